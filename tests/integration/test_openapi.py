"""The OpenAPI document of the whole API: current with the code, and served by the local runner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient

from local_api.gateway import SECURITY_HEADERS
from local_api.openapi import DOCUMENT_PATH, SECURITY_SCHEME, ApiDocs, build_document, render
from local_api.template import load_template


def test_checked_in_document_matches_code() -> None:
    current = render(build_document(load_template()))

    assert DOCUMENT_PATH.read_text(encoding="utf-8") == current, (
        "docs/openapi.json is out of date with the functions or template.yaml; run `make openapi` and commit it."
    )


def test_document_lists_every_template_route() -> None:
    template = load_template()
    document = build_document(template)

    documented = {(path, method) for path, operations in document["paths"].items() for method in operations}
    assert documented == {(route.path, route.method.lower()) for route in template.routes}
    assert document["openapi"] == "3.1.0"


def test_only_update_and_delete_require_bearer_token() -> None:
    document = build_document(load_template())

    secured = {
        (path, method)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") == [{SECURITY_SCHEME: []}]
    }
    assert secured == {("/org/update", "put"), ("/org/delete", "delete")}
    assert document["components"]["securitySchemes"][SECURITY_SCHEME]["scheme"] == "bearer"


def test_errors_documented_with_detail_body() -> None:
    document = build_document(load_template())

    error_body = document["components"]["schemas"]["ErrorBody"]
    assert list(error_body["properties"]) == ["detail"]
    update = document["paths"]["/org/update"]["put"]["responses"]
    assert update["409"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}


def _docs_client(route_exists: Callable[[str], bool] = lambda path: False) -> TestClient:
    async def gateway(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await PlainTextResponse("from the gateway")(scope, receive, send)

    return TestClient(ApiDocs(gateway, load_template(), route_exists=route_exists))


def test_local_runner_serves_swagger_ui_and_document() -> None:
    client = _docs_client()

    page = client.get("/docs")
    document = client.get("/openapi.json").json()

    assert page.status_code == 200
    assert "swagger-ui" in page.text
    assert "/openapi.json" in page.text
    assert document["servers"] == [{"url": "/", "description": "this local runner"}]
    assert "/org/create" in document["paths"]


@pytest.mark.parametrize("path", ["/docs", "/openapi.json"])
def test_local_runner_docs_carry_security_headers(path: str) -> None:
    response = _docs_client().get(path)

    assert response.status_code == 200
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value


def test_local_runner_passes_other_paths_to_gateway() -> None:
    client = _docs_client(route_exists=lambda path: path == "/docs")

    assert client.get("/org/get").text == "from the gateway"
    assert client.get("/docs").text == "from the gateway"
    assert client.post("/openapi.json").text == "from the gateway"
