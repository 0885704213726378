"""The app factory as every handler uses it: security headers, JSON error bodies and the 500 fallback."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from pymongo.errors import OperationFailure, PyMongoError
from orgservice.services.organizations import OrganizationService

from tests.integration.functions.invoke import (
    ApiResponse,
    create_organization,
    delete_organization,
    get_organization,
    invoke,
    login,
    register,
    update_organization,
)

CONTEXT = {
    "admin_id": "6b131ecb2e1f17fbed514e12",
    "organization_id": "6b131ecb2e1f17fbed514e11",
    "token_version": "0",
}

RESPONSES: list[tuple[str, int, Callable[[], ApiResponse]]] = [
    ("create-201", 201, lambda: create_organization("Initech", "admin@initech.example.com")),
    ("create-409", 409, lambda: create_organization("Acme Corp", "other@example.com")),
    ("create-422", 422, lambda: create_organization("a", "admin@example.com")),
    ("create-not-json-422", 422, lambda: invoke("create_organization", method="POST", path="/org/create", body="{")),
    ("login-200", 200, lambda: login("admin@acme.example.com", "correct-horse-42")),
    ("login-401", 401, lambda: login("admin@acme.example.com", "wrong-password")),
    ("get-200", 200, lambda: get_organization("Acme Corp")),
    ("get-404", 404, lambda: get_organization("Initech")),
    ("get-422", 422, lambda: invoke("get_organization", method="GET", path="/org/get")),
    ("update-401", 401, lambda: update_organization(None, {"organization_name": "Initech"})),
    ("delete-401", 401, lambda: delete_organization(CONTEXT)),
]
ERROR_RESPONSES = [entry for entry in RESPONSES if entry[1] >= 400]


@pytest.fixture
def seeded(service_env: dict[str, str]) -> None:
    register("Acme Corp", "admin@acme.example.com")


@pytest.mark.parametrize(("status", "call"), [entry[1:] for entry in RESPONSES], ids=[entry[0] for entry in RESPONSES])
def test_response_carries_security_headers(seeded: None, status: int, call: Callable[[], ApiResponse]) -> None:
    response = call()

    assert response.status == status
    assert response.headers.get("x-content-type-options") == "nosniff"
    assert response.headers.get("x-frame-options") == "DENY"
    assert response.headers.get("cache-control") == "no-store"
    assert response.headers.get("referrer-policy") == "no-referrer"
    assert response.headers.get("strict-transport-security", "").startswith("max-age=")


@pytest.mark.parametrize(
    ("status", "call"), [entry[1:] for entry in ERROR_RESPONSES], ids=[entry[0] for entry in ERROR_RESPONSES]
)
def test_error_body_is_one_detail_string(seeded: None, status: int, call: Callable[[], ApiResponse]) -> None:
    response = call()

    assert response.headers["content-type"] == "application/json"
    assert list(response.body) == ["detail"]
    assert isinstance(response.detail, str)
    assert response.detail


def test_unexpected_error_returns_500_json(seeded: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(self: OrganizationService, *, organization_name: str) -> None:
        raise RuntimeError("internal state: password=hunter2")

    monkeypatch.setattr(OrganizationService, "get", fail)

    response = get_organization("Acme Corp")

    assert response.status == 500
    assert list(response.body) == ["detail"]
    assert response.detail.startswith("The server failed to handle the request")
    assert "hunter2" not in response.detail
    assert "request id" in response.detail
    assert response.headers["x-content-type-options"] == "nosniff"


def test_unexpected_error_keeps_next_request(seeded: None, monkeypatch: pytest.MonkeyPatch) -> None:
    original_get = OrganizationService.get
    failures: list[str] = []

    def fail_once(self: OrganizationService, *, organization_name: str) -> object:
        if not failures:
            failures.append(organization_name)
            raise RuntimeError("boom")
        return original_get(self, organization_name=organization_name)

    monkeypatch.setattr(OrganizationService, "get", fail_once)

    assert get_organization("Acme Corp").status == 500
    assert get_organization("Acme Corp").status == 200


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(OperationFailure("secret-db-detail: E11000 on master.admins", code=11000), id="operation-failure"),
        pytest.param(PyMongoError("secret-db-detail: server mongodb://admin:pw@10.0.0.5"), id="pymongo-error"),
        pytest.param(KeyError("secret-db-detail"), id="key-error"),
    ],
)
def test_error_detail_only_in_log(
    seeded: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, error: Exception
) -> None:
    def fail(self: OrganizationService, *, organization_name: str) -> None:
        raise error

    monkeypatch.setattr(OrganizationService, "get", fail)

    response = get_organization("Acme Corp")

    assert response.status == 500
    assert "secret-db-detail" not in json.dumps(response.body)
    assert "Traceback" not in json.dumps(response.body)
    request_id = re.search(r"request id (\S+) ", response.detail).group(1)
    logged = [record for record in caplog.records if record.getMessage() == "Unhandled error"]
    assert len(logged) == 1
    assert logged[0].request_id == request_id
    assert "secret-db-detail" in caplog.text
