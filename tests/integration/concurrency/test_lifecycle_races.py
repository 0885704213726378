"""Concurrent creates, renames and deletes through the Lambda handlers, against the real database.

The held cases stop the first request at a step boundary until every other request has returned,
so the requests overlap for certain. The free cases let the threads race as they come.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from orgservice.services import checkpoints
from pymongo import MongoClient
from pymongo.database import Database

from tests.integration.faults.scenarios import find_violations, tenant_data
from tests.integration.functions.invoke import (
    ApiResponse,
    Tenant,
    create_organization,
    delete_organization,
    register,
    run_concurrently,
    update_organization,
)
from tests.integration.functions.tenant_data import seed_tenant_data

PARALLEL_REQUESTS = 6
WAIT_SECONDS = 30
FREE_RACE_ROUNDS = 4


class HoldAtStep:
    """Checkpoint hook that blocks the first request to reach `step` until `release` is set."""

    def __init__(self, step: str) -> None:
        self.step = step
        self.release = threading.Event()
        self.reached = threading.Event()
        self._lock = threading.Lock()
        self._held = False

    def __call__(self, reached: str) -> None:
        if reached != self.step:
            return
        with self._lock:
            if self._held:
                return
            self._held = True
        self.reached.set()
        assert self.release.wait(WAIT_SECONDS), f"nothing released the request held at {self.step}"


@pytest.fixture
def hold() -> Iterator[Callable[[str], HoldAtStep]]:
    def install(step: str) -> HoldAtStep:
        hook = HoldAtStep(step)
        checkpoints.hook = hook
        return hook

    yield install
    checkpoints.hook = None


@pytest.fixture
def acme(service_env: dict[str, str], master_db: Database) -> Tenant:
    tenant = register("Acme Corp", "admin@acme.example.com")
    seed_tenant_data(master_db, tenant.collection_name)
    return tenant


def release_when_others_return(
    hook: HoldAtStep, calls: list[Callable[[], ApiResponse]]
) -> list[Callable[[], ApiResponse]]:
    """Wrap the calls so that the held one is released once all the others have returned."""
    remaining = [len(calls) - 1]
    lock = threading.Lock()

    def wrap(call: Callable[[], ApiResponse]) -> Callable[[], ApiResponse]:
        def run() -> ApiResponse:
            response = call()
            if response.status != 200 and response.status != 201:
                with lock:
                    remaining[0] -= 1
                    if remaining[0] == 0:
                        hook.release.set()
            return response

        return run

    return [wrap(call) for call in calls]


def tenant_collections(database: Database) -> list[str]:
    return sorted(name for name in database.list_collection_names() if name.startswith("org_"))


def test_parallel_creates_same_name_one_wins(service_env: dict[str, str], master_db: Database) -> None:
    calls = [
        lambda i=i: create_organization("Race Corp", f"admin{i}@race.example.com") for i in range(PARALLEL_REQUESTS)
    ]

    statuses = sorted(response.status for response in run_concurrently(calls))

    assert statuses == [201] + [409] * (PARALLEL_REQUESTS - 1)
    assert master_db.organizations.count_documents({}) == 1
    assert master_db.admins.count_documents({}) == 1
    assert tenant_collections(master_db) == ["org_race_corp"]


def test_parallel_creates_held_one_wins(
    service_env: dict[str, str], master_db: Database, mongo_client: MongoClient, hold: Callable[[str], HoldAtStep]
) -> None:
    """Creates that arrive while the winner is between its records and its collection get 409, not a half state."""
    hook = hold("create.records_stored")
    calls = [
        lambda i=i: create_organization("Race Corp", f"admin{i}@race.example.com") for i in range(PARALLEL_REQUESTS)
    ]

    statuses = sorted(response.status for response in run_concurrently(release_when_others_return(hook, calls)))

    assert statuses == [201] + [409] * (PARALLEL_REQUESTS - 1)
    assert find_violations(mongo_client, master_db, None) == []


def test_parallel_creates_same_email_one_wins(
    service_env: dict[str, str], master_db: Database, mongo_client: MongoClient
) -> None:
    calls = [lambda i=i: create_organization(f"Race {i}", "admin@race.example.com") for i in range(PARALLEL_REQUESTS)]

    statuses = sorted(response.status for response in run_concurrently(calls))

    assert statuses == [201] + [409] * (PARALLEL_REQUESTS - 1)
    assert len(tenant_collections(master_db)) == 1
    assert find_violations(mongo_client, master_db, None) == []


def test_parallel_renames_held_one_wins(
    acme: Tenant, master_db: Database, mongo_client: MongoClient, hold: Callable[[str], HoldAtStep]
) -> None:
    before = tenant_data(master_db, acme.collection_name)
    hook = hold("rename.metadata_written")
    names = [f"Acme Renamed {i}" for i in range(PARALLEL_REQUESTS)]
    calls = [lambda name=name: update_organization(acme.context, {"organization_name": name}) for name in names]

    responses = run_concurrently(release_when_others_return(hook, calls))

    statuses = sorted(response.status for response in responses)
    winners = [response.body["organization"]["organization_name"] for response in responses if response.status == 200]
    stored = master_db.organizations.find_one()
    assert statuses == [200] + [409] * (PARALLEL_REQUESTS - 1)
    assert stored["organization_name"] == winners[0]
    assert tenant_data(master_db, stored["collection_name"]) == before
    assert find_violations(mongo_client, master_db, before) == []


def test_parallel_renames_free_lose_no_update(acme: Tenant, master_db: Database, mongo_client: MongoClient) -> None:
    """Renames that race freely each either apply in full or get 409, and the stored name is a winner's."""
    before = tenant_data(master_db, acme.collection_name)
    version_before = master_db.organizations.find_one()["version"]
    names = [f"Acme Renamed {i}" for i in range(PARALLEL_REQUESTS)]
    calls = [lambda name=name: update_organization(acme.context, {"organization_name": name}) for name in names]

    responses = run_concurrently(calls)

    winners = [response.body["organization"]["organization_name"] for response in responses if response.status == 200]
    stored = master_db.organizations.find_one()
    assert {response.status for response in responses} <= {200, 409}
    assert winners
    assert stored["organization_name"] in winners
    # Each applied rename writes the metadata once and clears its mark once.
    assert stored["version"] == version_before + 2 * len(winners)
    assert find_violations(mongo_client, master_db, before) == []


def test_delete_during_held_rename_conflicts(
    acme: Tenant, master_db: Database, mongo_client: MongoClient, hold: Callable[[str], HoldAtStep]
) -> None:
    before = tenant_data(master_db, acme.collection_name)
    hook = hold("rename.metadata_written")
    calls = [
        lambda: update_organization(acme.context, {"organization_name": "Acme Alpha"}),
        lambda: _after(hook, lambda: delete_organization(acme.context)),
    ]

    rename, delete = run_concurrently(release_when_others_return(hook, calls))

    assert rename.status == 200
    assert delete.status == 409
    assert master_db.organizations.find_one()["collection_name"] == "org_acme_alpha"
    assert find_violations(mongo_client, master_db, before) == []


def test_rename_during_held_delete_conflicts(
    acme: Tenant, master_db: Database, mongo_client: MongoClient, hold: Callable[[str], HoldAtStep]
) -> None:
    hook = hold("delete.marked")
    calls = [
        lambda: delete_organization(acme.context),
        lambda: _after(hook, lambda: update_organization(acme.context, {"organization_name": "Acme Alpha"})),
    ]

    delete, rename = run_concurrently(release_when_others_return(hook, calls))

    assert delete.status == 200
    assert rename.status == 409
    assert master_db.organizations.count_documents({}) == 0
    assert find_violations(mongo_client, master_db, None) == []
    assert tenant_collections(master_db) == []


@pytest.mark.parametrize("round_number", range(FREE_RACE_ROUNDS))
def test_rename_against_delete_ends_consistent(
    service_env: dict[str, str], master_db: Database, mongo_client: MongoClient, round_number: int
) -> None:
    tenant = register("Acme Corp", "admin@acme.example.com")
    seed_tenant_data(master_db, tenant.collection_name)
    before = tenant_data(master_db, tenant.collection_name)
    calls = [
        lambda: update_organization(tenant.context, {"organization_name": "Acme Alpha"}),
        lambda: delete_organization(tenant.context),
    ]

    rename, delete = run_concurrently(calls)

    assert rename.status in (200, 401, 404, 409)
    assert delete.status in (200, 409)
    assert 200 in (rename.status, delete.status)
    remaining = master_db.organizations.count_documents({})
    assert remaining == (0 if delete.status == 200 else 1)
    assert find_violations(mongo_client, master_db, before) == []


def _after(hook: HoldAtStep, call: Callable[[], ApiResponse]) -> ApiResponse:
    """Run `call` once the held request has reached its step."""
    assert hook.reached.wait(WAIT_SECONDS)
    return call()
