"""Faults at every step boundary on a standalone server, where the service writes without transactions.

Without a transaction the organization and admin writes of create and delete are separate steps, so
these cases add the boundaries between them. A killed request is settled by the repair function.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from orgservice.core import db
from orgservice.core.config import get_settings
from orgservice.services import checkpoints
from pymongo import MongoClient
from pymongo.database import Database

from local_api.embedded_db import EmbeddedMongo
from tests.integration.faults.scenarios import (
    SUCCESS,
    InjectedFault,
    Scenario,
    check_outcome,
    expire_leases,
    kill_child_at,
    prepare,
    run,
    run_next_request,
    run_repair,
    tenant_data,
)

STEPS = {
    "create": ["create.organization_stored", "create.records_stored", "create.collection_created"],
    "rename": ["rename.metadata_written", "rename.collection_moved"],
    "delete": ["delete.marked", "delete.collection_dropped", "delete.admins_removed"],
}
CASES = [
    pytest.param(Scenario(operation), step, id=f"{operation}-{step}")
    for operation, steps in STEPS.items()
    for step in steps
]


@pytest.fixture(scope="module")
def standalone_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoClient]:
    server = EmbeddedMongo(tmp_path_factory.mktemp("standalone-faults") / "data", standalone=True).start()
    client = MongoClient(server.uri, tz_aware=True)
    try:
        yield client
    finally:
        client.close()
        server.stop()


@pytest.fixture
def standalone_db(
    service_env: dict[str, str], standalone_client: MongoClient, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Database]:
    host, port = standalone_client.address
    monkeypatch.setenv("MONGODB_URI", f"mongodb://{host}:{port}/")
    get_settings.cache_clear()
    db.reset()
    assert db.transactions_supported() is False

    yield standalone_client[service_env["MONGODB_DATABASE"]]

    checkpoints.hook = None
    standalone_client.drop_database(service_env["MONGODB_DATABASE"])


@pytest.mark.parametrize(("scenario", "step"), CASES)
def test_standalone_exception_at_step_recovers(
    scenario: Scenario, step: str, standalone_db: Database, standalone_client: MongoClient
) -> None:
    tenant = prepare(scenario, standalone_db)
    expected = tenant_data(standalone_db, tenant.collection_name) if tenant else None

    def fail_at(reached: str) -> None:
        if reached == step:
            raise InjectedFault(f"injected fault at {reached}")

    checkpoints.hook = fail_at
    response = run(scenario, tenant)
    checkpoints.hook = None

    assert response.status in (409, 500), response.body
    # After the admins are gone, the token no longer identifies anyone, so only the repair finishes the delete.
    allowed = {SUCCESS[scenario.operation], 401} if step == "delete.admins_removed" else {SUCCESS[scenario.operation]}
    assert run_next_request(scenario, tenant).status in allowed
    expire_leases(standalone_db)
    assert run_repair()["failed"] == 0

    case = f"standalone exception at {scenario.id}/{step}"
    check_outcome(case, scenario, standalone_client, standalone_db, expected)


@pytest.mark.parametrize(("scenario", "step"), CASES)
def test_standalone_kill_at_step_recovers(
    scenario: Scenario, step: str, standalone_db: Database, standalone_client: MongoClient
) -> None:
    tenant = prepare(scenario, standalone_db)
    expected = tenant_data(standalone_db, tenant.collection_name) if tenant else None

    kill_child_at(scenario, step, tenant)

    expire_leases(standalone_db)
    report = run_repair()
    assert report["failed"] == 0
    assert report["orphan_collections"] == []

    case = f"standalone kill at {scenario.id}/{step}, then repair"
    check_outcome(case, scenario, standalone_client, standalone_db, expected)
