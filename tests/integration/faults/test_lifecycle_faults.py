"""Faults injected at every step boundary of create, rename and delete, through the Lambda handlers.

Each case stops one request at one boundary, either with an exception (the service's own error
handling runs) or by SIGKILL in a child process (nothing runs, as at a Lambda timeout). Then the
next request or the repair function runs, and every invariant must hold. Each organization's
collection exists with its documents, `_id`s and indexes. No admin, organization or `org_*`
collection is left without its counterpart. A failed create leaves its name and email free.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from orgservice.core import db
from orgservice.services import checkpoints
from pymongo import MongoClient
from pymongo.database import Database

from tests.integration.faults.scenarios import (
    NAME,
    NEW_NAME,
    SCENARIOS,
    SUCCESS,
    InjectedFault,
    Scenario,
    check_outcome,
    expire_leases,
    kill_child_at,
    place_tenants_apart,
    prepare,
    run,
    run_next_request,
    run_repair,
    tenant_data,
    tenant_database_name,
)
from tests.integration.functions.invoke import Tenant, get_organization

# The step boundaries of each scenario in the order a successful request passes them.
STEPS = {
    "create": ["create.records_stored", "create.collection_created"],
    "rename": ["rename.metadata_written", "rename.collection_moved"],
    "rename-copy": [
        "rename.metadata_written",
        "rename.indexes_copied",
        "rename.batch_copied",
        "rename.documents_copied",
        "rename.collection_moved",
    ],
    "delete": ["delete.marked", "delete.collection_dropped"],
}
# Boundaries inside the rollback that a failure starts: an exception at the first step, then SIGKILL at the second.
ROLLBACK_STEPS = {
    "create": ["create.collection_created>create.rollback_collection_dropped"],
    "rename-copy": ["rename.batch_copied>rename.rollback_copy_dropped"],
}
KILL_CASES = [
    pytest.param(scenario, step, id=f"{scenario.id}-{step}")
    for scenario in SCENARIOS
    for step in STEPS[scenario.id] + ROLLBACK_STEPS.get(scenario.id, [])
]
CASES = [
    pytest.param(scenario, step, id=f"{scenario.id}-{step}") for scenario in SCENARIOS for step in STEPS[scenario.id]
]


@pytest.fixture(autouse=True)
def transactions_only(service_env: dict[str, str]) -> None:
    if not db.transactions_supported():
        pytest.skip("the server runs without a replica set; these cases assume transactions")


@pytest.fixture
def clean_hook() -> Iterator[None]:
    yield
    checkpoints.hook = None


@pytest.fixture
def tenant_database(master_db: Database, mongo_client: MongoClient) -> Iterator[Database]:
    database = mongo_client[tenant_database_name(master_db.name)]
    yield database
    mongo_client.drop_database(database.name)


def setup(
    scenario: Scenario, master_db: Database, monkeypatch: pytest.MonkeyPatch
) -> tuple[Tenant | None, dict | None]:
    tenant = prepare(scenario, master_db)
    expected = tenant_data(master_db, tenant.collection_name) if tenant else None
    if scenario.copy:
        from orgservice import wiring
        from orgservice.services import collections

        monkeypatch.setattr(wiring, "CollectionPerTenantPlacement", wiring.CollectionPerTenantPlacement)
        monkeypatch.setattr(collections, "COPY_BATCH_SIZE", collections.COPY_BATCH_SIZE)
        place_tenants_apart(master_db.name)
    return tenant, expected


def assert_reader_sees_complete_collection(mongo_client: MongoClient, master: Database, expected: dict | None) -> None:
    """Check that GET names a collection that exists with every document, whatever step the rename stopped at."""
    databases = [master, mongo_client[tenant_database_name(master.name)]]
    for name in (NAME, NEW_NAME):
        response = get_organization(name)
        if response.status != 200:
            continue
        collection_name = response.body["collection_name"]
        holders = [database for database in databases if collection_name in database.list_collection_names()]
        assert holders, response.body
        assert any(tenant_data(database, collection_name) == expected for database in holders), response.body


@pytest.mark.parametrize(("scenario", "step"), CASES)
def test_exception_at_step_recovers(
    scenario: Scenario,
    step: str,
    master_db: Database,
    mongo_client: MongoClient,
    tenant_database: Database,
    clean_hook: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant, expected = setup(scenario, master_db, monkeypatch)
    fired: list[str] = []

    def fail_at(reached: str) -> None:
        if reached == step and not fired:
            fired.append(reached)
            raise InjectedFault(f"injected fault at {reached}")

    checkpoints.hook = fail_at
    response = run(scenario, tenant)
    checkpoints.hook = None

    assert fired == [step]
    assert response.status in (409, 500), response.body
    if scenario.operation == "rename":
        assert_reader_sees_complete_collection(mongo_client, master_db, expected)

    # A failed request rolls back or releases its change, so the next request needs no waiting.
    assert run_next_request(scenario, tenant).status == SUCCESS[scenario.operation]
    expire_leases(master_db)
    assert run_repair()["failed"] == 0

    check_outcome(f"exception at {scenario.id}/{step}", scenario, mongo_client, master_db, expected)


@pytest.mark.parametrize("recovery", ["repair", "next-request"])
@pytest.mark.parametrize(("scenario", "step"), KILL_CASES)
def test_kill_at_step_recovers(
    scenario: Scenario,
    step: str,
    recovery: str,
    master_db: Database,
    mongo_client: MongoClient,
    tenant_database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant, expected = setup(scenario, master_db, monkeypatch)

    kill_child_at(scenario, step, tenant)

    if scenario.operation == "rename":
        assert_reader_sees_complete_collection(mongo_client, master_db, expected)
    expire_leases(master_db)
    if recovery == "repair":
        report = run_repair()
        assert report["failed"] == 0
        assert report["orphan_collections"] == []
    else:
        assert run_next_request(scenario, tenant).status == SUCCESS[scenario.operation]

    check_outcome(f"kill at {scenario.id}/{step}, then {recovery}", scenario, mongo_client, master_db, expected)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[scenario.id for scenario in SCENARIOS])
def test_steps_cover_every_boundary(
    scenario: Scenario,
    master_db: Database,
    tenant_database: Database,
    clean_hook: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A successful request passes exactly the boundaries listed in STEPS, so none goes untested."""
    tenant, _expected = setup(scenario, master_db, monkeypatch)
    reached: list[str] = []
    checkpoints.hook = reached.append

    response = run(scenario, tenant)

    assert response.status == SUCCESS[scenario.operation], response.body
    assert list(dict.fromkeys(reached)) == STEPS[scenario.id]
