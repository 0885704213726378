"""One OpenAPI 3.1 document for the whole API, and Swagger UI for it in the local runner.

Each function's FastAPI app describes its own route, and this module merges those descriptions. It
adds what only the template states, which routes the Lambda authorizer protects, as a bearer JWT
security scheme. `python -m local_api openapi` writes the document (`make openapi`
keeps docs/openapi.json current), and `make run` serves it at /openapi.json with Swagger UI at /docs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from local_api.gateway import SECURITY_HEADERS
from local_api.lambda_events import ROOT, load_module
from local_api.template import SamTemplate

DOCUMENT_PATH = ROOT / "docs" / "openapi.json"
DOCS_URL = "/docs"
OPENAPI_URL = "/openapi.json"

TITLE = "Organization management API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Multi-tenant organization management: create an organization with its first admin, log in for a "
    "bearer JWT, and with it rename or delete the organization. Every error has the body "
    '`{"detail": "<what is wrong and how to fix it>"}`.'
)
SECURITY_SCHEME = "bearerAuth"
DEPLOYED_SERVER = {
    "url": "https://{apiId}.execute-api.{region}.amazonaws.com/{stage}",
    "description": "The deployed stage; the stack's ApiUrl output is this URL.",
    "variables": {
        "apiId": {"default": "abc123", "description": "REST API id"},
        "region": {"default": "us-east-1"},
        "stage": {"default": "dev", "enum": ["dev", "prod"]},
    },
}


class OpenApiError(ValueError):
    """Two functions describe the same schema or operation differently."""


def _protected_operations(template: SamTemplate) -> set[tuple[str, str]]:
    protected = set()
    for route in template.routes:
        api = template.apis[route.api_id]
        authorizer = route.authorizer if route.authorizer is not None else api.default_authorizer
        if authorizer not in (None, "NONE"):
            protected.add((route.path, route.method.lower()))
    return protected


def _merge(target: dict[str, Any], source: Mapping[str, Any], kind: str) -> None:
    for name, value in source.items():
        if name in target and target[name] != value:
            raise OpenApiError(f"Two functions describe {kind} {name!r} differently; give them one definition.")
        target[name] = value


def build_document(template: SamTemplate) -> dict[str, Any]:
    """Merge the OpenAPI descriptions of the template's FastAPI functions into one document."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    protected = _protected_operations(template)

    for function in sorted(template.functions.values(), key=lambda spec: spec.logical_id):
        module = load_module(function.code_uri, function.handler)
        app = getattr(module, "app", None)
        if app is None:
            # The authorizer has no app: it appears as the security scheme below.
            continue
        description = app.openapi()
        for path, operations in description.get("paths", {}).items():
            _merge(paths.setdefault(path, {}), operations, f"operation on {path}")
        _merge(schemas, description.get("components", {}).get("schemas", {}), "schema")

    for path, operations in paths.items():
        for method, operation in operations.items():
            if (path, method) in protected:
                operation["security"] = [{SECURITY_SCHEME: []}]

    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION, "description": DESCRIPTION},
        "servers": [DEPLOYED_SERVER],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The access_token from POST /org/admin/login, checked by the Lambda authorizer.",
                }
            },
        },
    }


def render(document: Mapping[str, Any]) -> str:
    """Serialize the document as docs/openapi.json stores it."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_document(template: SamTemplate, output: Path = DOCUMENT_PATH) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render(build_document(template)), encoding="utf-8")


class ApiDocs:
    """ASGI app that serves Swagger UI and the document, and passes every other request to `app`.

    A route of the template with the same path wins, as it would in API Gateway.
    """

    def __init__(self, app: ASGIApp, template: SamTemplate, route_exists: Any) -> None:
        self.app = app
        self.document = {**build_document(template), "servers": [{"url": "/", "description": "this local runner"}]}
        self._route_exists = route_exists

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")
        if (
            scope["type"] == "http"
            and scope["method"] in ("GET", "HEAD")
            and path in (DOCS_URL, OPENAPI_URL)
            and not self._route_exists(path)
        ):
            if path == DOCS_URL:
                response = get_swagger_ui_html(openapi_url=OPENAPI_URL, title=f"{TITLE} - Swagger UI")
            else:
                response = JSONResponse(self.document)
            response.headers.update(SECURITY_HEADERS)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
