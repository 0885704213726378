"""Limits of long collection operations against the functions' timeouts, and errors with an unknown outcome."""

from __future__ import annotations

import pytest
from orgservice.repositories.tenant_collections import DROP_TIMEOUT_SECONDS, RENAME_TIMEOUT_SECONDS, outcome_unknown
from orgservice.services.lifecycle import PENDING_CHANGE_LEASE
from pymongo.errors import (
    AutoReconnect,
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
    WTimeoutError,
)

from local_api.template import load_template


@pytest.mark.parametrize(
    ("function", "limit"),
    [("UpdateOrganizationFunction", RENAME_TIMEOUT_SECONDS), ("DeleteOrganizationFunction", DROP_TIMEOUT_SECONDS)],
)
def test_operation_limit_fits_function_timeout(function: str, limit: int) -> None:
    """The function outlives the operation's limit, so it can return 503 with the mark kept."""
    timeout_seconds = load_template().function(function).timeout_seconds

    assert limit < timeout_seconds
    assert timeout_seconds < PENDING_CHANGE_LEASE.total_seconds()


@pytest.mark.parametrize(
    "error",
    [
        ExecutionTimeout("operation exceeded time limit", code=50),
        NetworkTimeout("timed out"),
        AutoReconnect("connection reset"),
        ServerSelectionTimeoutError("no server"),
        WTimeoutError("write concern timed out", code=64),
    ],
    ids=lambda error: type(error).__name__,
)
def test_outcome_unknown_for_timeouts_and_lost_connections(error: Exception) -> None:
    assert outcome_unknown(error)


@pytest.mark.parametrize(
    "error",
    [OperationFailure("namespace exists", code=48), DuplicateKeyError("E11000", 11000), RuntimeError("copy failed")],
    ids=lambda error: type(error).__name__,
)
def test_outcome_known_for_server_rejections(error: Exception) -> None:
    assert not outcome_unknown(error)
