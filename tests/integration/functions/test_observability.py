"""Log lines and EMF metrics that the handlers write, read from their output streams."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo.errors import OperationFailure

from local_api.lambda_events import ROOT, LambdaContext, build_authorizer_event, build_proxy_event
from orgservice.repositories.tenant_collections import TenantCollectionRepository
from tests.integration.functions.invoke import (
    DEFAULT_PASSWORD,
    Tenant,
    authorize,
    create_organization,
    delete_organization,
    handler_of,
    login,
    update_organization,
)

SERVICE = "org-management-test"
NAMESPACE = "OrgManagement"


class Output:
    """Everything the handlers wrote during a test: JSON log lines and EMF metric documents."""

    def __init__(self, log_stream: io.StringIO, capsys: pytest.CaptureFixture[str]) -> None:
        self._log_stream = log_stream
        self._capsys = capsys
        self._stdout: list[str] = []

    def lines(self) -> list[str]:
        self._stdout.extend(self._capsys.readouterr().out.splitlines())
        return [line for line in self._log_stream.getvalue().splitlines() + self._stdout if line.strip()]

    def logs(self) -> list[dict[str, Any]]:
        return [record for record in map(json.loads, self.lines()) if "_aws" not in record]

    def metric_counts(self) -> dict[str, float]:
        counts: dict[str, float] = {}
        for record in map(json.loads, self.lines()):
            if "_aws" not in record:
                continue
            (directive,) = record["_aws"]["CloudWatchMetrics"]
            assert directive["Namespace"] == NAMESPACE
            for metric in directive["Metrics"]:
                value = record[metric["Name"]]
                counts[metric["Name"]] = counts.get(metric["Name"], 0) + (sum(value) if isinstance(value, list) else value)
        return counts


@pytest.fixture
def loaded_handlers(service_env: dict[str, str]) -> None:
    """Load the handlers before output capture starts, so their loggers keep the session's stdout."""
    for function in ("create_organization", "admin_login", "update_organization", "delete_organization", "authorizer"):
        handler_of(function)


@pytest.fixture
def output(loaded_handlers: None, capsys: pytest.CaptureFixture[str]) -> Iterator[Output]:
    """Collect the JSON log lines of every module, and the EMF documents from standard output.

    Modules imported before the test set POWERTOOLS_SERVICE_NAME log under another parent logger,
    so the lines are collected at the root logger, with the service logger's Powertools formatter
    and its correlation id and keys. The service handler's own copy of each line is dropped.
    """
    handlers = logging.getLogger(SERVICE).handlers
    originals = [handler.stream for handler in handlers]
    stream = io.StringIO()
    collector = logging.StreamHandler(stream)
    collector.setFormatter(handlers[0].formatter)
    for handler in handlers:
        # Assigned rather than set with setStream, which would flush a stream that may be closed.
        handler.stream = io.StringIO()
    logging.getLogger().addHandler(collector)
    capsys.readouterr()

    yield Output(stream, capsys)

    logging.getLogger().removeHandler(collector)
    for handler, original in zip(handlers, originals, strict=True):
        handler.stream = original


def _invoke(function: str, event: dict[str, Any]) -> dict[str, Any]:
    return handler_of(function)(event, LambdaContext(function_name=function))


def test_request_logs_one_access_line_with_correlation_id(output: Output) -> None:
    event = build_proxy_event(
        method="POST",
        path="/org/create",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"organization_name": "Acme Corp", "email": "admin@acme.example.com", "password": "x" * 12}),
        request_id="req-create-1",
    )

    assert _invoke("create_organization", event)["statusCode"] == 201

    logs = output.logs()
    access = [record for record in logs if record["message"] == "Request handled"]
    assert len(access) == 1
    assert access[0]["method"] == "POST"
    assert access[0]["route"] == "/org/create"
    assert access[0]["status"] == 201
    assert access[0]["duration_ms"] >= 0
    assert {record["correlation_id"] for record in logs} == {"req-create-1"}
    assert {record["service"] for record in logs} == {SERVICE}


def test_authorized_request_logs_admin_and_organization_ids(acme: Tenant, output: Output) -> None:
    update_organization(acme.context, {"organization_name": "Acme Industries"})

    access = [record for record in output.logs() if record["message"] == "Request handled"]
    assert access[-1]["admin_id"] == acme.admin_id
    assert access[-1]["organization_id"] == acme.organization_id


def test_caught_error_logged_with_status(acme: Tenant, output: Output) -> None:
    create_organization("Acme Corp", "other@acme.example.com")

    failures = [record for record in output.logs() if record["message"] == "Request failed"]
    assert [(record["status"], record["error"]) for record in failures] == [(409, "ConflictError")]


def test_login_logs_neither_password_nor_token(acme: Tenant, output: Output, service_env: dict[str, str]) -> None:
    token = login(acme.email, DEFAULT_PASSWORD).body["access_token"]
    login(acme.email, "wrong-password-1")
    authorize({"Authorization": f"Bearer {token}"})

    text = "\n".join(output.lines())
    assert "Login succeeded" in text
    assert DEFAULT_PASSWORD not in text
    assert "wrong-password-1" not in text
    assert token not in text
    assert token.split(".")[2] not in text
    assert service_env["JWT_SECRET_KEY"] not in text


def test_create_counts_organization_created(output: Output) -> None:
    create_organization("Acme Corp", "admin@acme.example.com")

    assert output.metric_counts() == {"OrganizationsCreated": 1}


def test_logins_counted_by_outcome(acme: Tenant, output: Output) -> None:
    login(acme.email, DEFAULT_PASSWORD)
    login(acme.email, "wrong-password-1")
    login("nobody@acme.example.com", "wrong-password-1")

    assert output.metric_counts() == {"LoginsSucceeded": 1, "LoginsFailed": 2}


def test_rename_and_delete_counted(acme: Tenant, output: Output) -> None:
    update_organization(acme.context, {"organization_name": "Acme Industries"})
    update_organization(acme.context, {"password": "another-horse-42"})
    # The password change raised the admin's token version, which a new token would carry.
    delete_organization({**acme.context, "token_version": "1"})

    assert output.metric_counts() == {"OrganizationsRenamed": 1, "OrganizationsDeleted": 1}


def test_failed_move_counts_rollback(acme: Tenant, output: Output, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise OperationFailure("interrupted", code=11601)

    monkeypatch.setattr(TenantCollectionRepository, "rename", fail)

    response = update_organization(acme.context, {"organization_name": "Acme Industries"})

    assert response.status == 409
    assert output.metric_counts() == {"MigrationRollbacks": 1}


def test_authorizer_counts_denials(output: Output) -> None:
    for headers in (None, {"Authorization": "Bearer not-a-jwt"}):
        with pytest.raises(Exception, match="Unauthorized"):
            authorize(headers)

    assert output.metric_counts() == {"AuthorizerDenials": 2}
    denials = [record for record in output.logs() if record["message"].startswith("Denied")]
    assert [record["route"] for record in denials] == ["/org/update", "/org/update"]


def test_authorizer_logs_correlation_id_of_request(output: Output) -> None:
    proxy = build_proxy_event(method="PUT", path="/org/update", request_id="req-authorize-1")

    with pytest.raises(Exception, match="Unauthorized"):
        _invoke("authorizer", build_authorizer_event(proxy))

    denials = [record for record in output.logs() if record["message"].startswith("Denied")]
    assert [record["correlation_id"] for record in denials] == ["req-authorize-1"]


# A fresh interpreter plays the role of a new Lambda container. As in Lambda, the runtime's root
# handler exists before the function's code loads, and both write to standard output.
CONTAINER_SCRIPT = textwrap.dedent(
    """
    import json, logging, sys
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="RUNTIME %(message)s")
    from local_api.lambda_events import LambdaContext, build_proxy_event, load_handler

    handler = load_handler("functions/create_organization")
    body = {"organization_name": "Globex", "email": "admin@globex.example.com", "password": "x" * 12}
    for request_id in ("req-1", "req-2"):
        event = build_proxy_event(
            method="POST", path="/org/create", headers={"Content-Type": "application/json"},
            body=json.dumps(body), request_id=request_id,
        )
        handler(event, LambdaContext(function_name="create_organization"))
    """
)


def test_container_writes_each_line_once(service_env: dict[str, str]) -> None:
    environment = {**os.environ, **service_env, "PYTHONPATH": str(ROOT)}

    result = subprocess.run(
        [sys.executable, "-c", CONTAINER_SCRIPT], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert not [line for line in lines if line.startswith("RUNTIME")]
    assert len(lines) == len(set(lines))
    records = [json.loads(line) for line in lines]
    access = [record for record in records if record.get("message") == "Request handled"]
    assert [(record["correlation_id"], record["status"]) for record in access] == [("req-1", 201), ("req-2", 409)]
