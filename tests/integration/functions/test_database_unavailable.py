"""Handlers with MongoDB unreachable: a 503 JSON error, bounded by MONGODB_TIMEOUT_MS, never a hang.

The tests check the client's configured limits instead of timing the calls, because wall-clock
limits belong in bench/ and fail on slow machines.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from orgservice.core import db
from orgservice.core.config import get_settings

from tests.integration.functions.invoke import (
    ApiResponse,
    create_organization,
    delete_organization,
    get_organization,
    login,
    update_organization,
)

TIMEOUT_MS = "500"

CONTEXT = {
    "admin_id": "6b131ecb2e1f17fbed514e12",
    "organization_id": "6b131ecb2e1f17fbed514e11",
    "token_version": "0",
}


def assert_client_bounded_by_setting() -> None:
    """Check that every operation and server selection of the container's client is limited to TIMEOUT_MS."""
    options = db.get_client().options

    assert options.timeout == int(TIMEOUT_MS) / 1000
    assert options.server_selection_timeout == int(TIMEOUT_MS) / 1000


def closed_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def unreachable_database(service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGODB_URI", f"mongodb://127.0.0.1:{closed_port()}/?directConnection=true")
    monkeypatch.setenv("MONGODB_TIMEOUT_MS", TIMEOUT_MS)
    get_settings.cache_clear()
    db.reset()


CALLS: list[tuple[str, Callable[[], ApiResponse]]] = [
    ("create", lambda: create_organization("Acme Corp", "admin@acme.example.com")),
    ("login", lambda: login("admin@acme.example.com", "correct-horse-42")),
    ("get", lambda: get_organization("Acme Corp")),
    ("update", lambda: update_organization(CONTEXT, {"organization_name": "Acme Industries"})),
    ("delete", lambda: delete_organization(CONTEXT)),
]


@pytest.mark.parametrize("call", [call for _, call in CALLS], ids=[name for name, _ in CALLS])
def test_unreachable_database_returns_503(unreachable_database: None, call: Callable[[], ApiResponse]) -> None:
    response = call()

    assert response.status == 503
    assert "database" in response.detail.lower()
    assert "127.0.0.1" not in response.detail
    assert_client_bounded_by_setting()


def test_unreachable_database_after_warm_start(service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A container whose indexes exist already still returns 503 once the server goes away."""
    monkeypatch.setenv("MONGODB_TIMEOUT_MS", TIMEOUT_MS)
    get_settings.cache_clear()
    db.reset()
    assert create_organization("Acme Corp", "admin@acme.example.com").status == 201

    monkeypatch.setenv("MONGODB_URI", f"mongodb://127.0.0.1:{closed_port()}/?directConnection=true")
    get_settings.cache_clear()
    db._client.close()
    db._client = None

    response = get_organization("Acme Corp")

    assert response.status == 503
    assert_client_bounded_by_setting()
