"""Collection operations that time out on the client while the server applies them, or before it does.

A renameCollection or drop that outlives its client-side limit may still complete on the server. Each
case injects a timeout before, after or in the middle of the real operation. The request must keep
its mark and return 503, and no later request or repair may roll back on a guess. Then the same
invariants as in the other fault modules must hold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from orgservice.core import db
from orgservice.models import TenantLocation
from orgservice.repositories.tenant_collections import TenantCollectionRepository
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import ExecutionTimeout, NetworkTimeout, PyMongoError

from tests.integration.faults.scenarios import (
    NEW_NAME,
    Scenario,
    check_outcome,
    expire_leases,
    prepare,
    run,
    run_next_request,
    run_repair,
    tenant_data,
)
from tests.integration.faults.test_lifecycle_faults import assert_reader_sees_complete_collection
from tests.integration.functions.invoke import ApiResponse

RENAME = Scenario("rename")
DELETE = Scenario("delete")
TIMEOUTS: dict[str, Callable[[], PyMongoError]] = {
    "execution-timeout": lambda: ExecutionTimeout("operation exceeded time limit", code=50),
    "network-timeout": lambda: NetworkTimeout("timed out reading from the server"),
}
# Where a collection sits while the server is still running a rename that moves it by copying.
IN_FLIGHT_NAME = "rename_in_flight"


@pytest.fixture(autouse=True)
def transactions_only(service_env: dict[str, str]) -> None:
    if not db.transactions_supported():
        pytest.skip("the server runs without a replica set; these cases assume transactions")


def timed_out_response_is_accurate(response: ApiResponse, action: str) -> None:
    assert response.status == 503, response.body
    assert f"The {action} of organization" in response.detail
    assert "may still be running" in response.detail
    assert int(response.headers["retry-after"]) > 0


def still_leased(response: ApiResponse) -> None:
    """A request during the lease of the kept mark gets 409 that names the wait."""
    assert response.status == 409, response.body
    seconds = int(response.headers["retry-after"])
    assert f"retry in {seconds} seconds" in response.detail


@pytest.fixture
def rename_raising(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, PyMongoError], None]]:
    """Install a renameCollection that raises the given error before or after the real rename, once."""
    original = TenantCollectionRepository.rename

    def install(when: str, error: PyMongoError) -> None:
        calls: list[int] = []

        def rename(self: TenantCollectionRepository, *, source: TenantLocation, target: TenantLocation) -> None:
            calls.append(1)
            if len(calls) > 1:
                original(self, source=source, target=target)
                return
            if when == "after":
                original(self, source=source, target=target)
            raise error

        monkeypatch.setattr(TenantCollectionRepository, "rename", rename)

    yield install


@pytest.mark.parametrize("recovery", ["repair", "next-request"])
@pytest.mark.parametrize("error_name", sorted(TIMEOUTS))
@pytest.mark.parametrize("when", ["before", "after"])
def test_rename_timeout_keeps_mark(
    when: str,
    error_name: str,
    recovery: str,
    master_db: Database,
    mongo_client: MongoClient,
    rename_raising: Callable[[str, PyMongoError], None],
) -> None:
    tenant = prepare(RENAME, master_db)
    assert tenant is not None
    expected = tenant_data(master_db, tenant.collection_name)
    rename_raising(when, TIMEOUTS[error_name]())

    response = run(RENAME, tenant)

    timed_out_response_is_accurate(response, "rename")
    assert_reader_sees_complete_collection(mongo_client, master_db, expected)
    still_leased(run_next_request(RENAME, tenant))

    expire_leases(master_db)
    if recovery == "repair":
        report = run_repair()
        assert report["failed"] == 0
        assert report["finished_renames"] == 1
        assert report["orphan_collections"] == []
    else:
        assert run_next_request(RENAME, tenant).status == 200

    assert master_db.organizations.find_one()["organization_name"] == NEW_NAME
    check_outcome(
        f"{error_name} {when} renameCollection, then {recovery}", RENAME, mongo_client, master_db, expected
    )


def rename_collection(database: Database, source: str, target: str) -> None:
    database.client.admin.command("renameCollection", f"{database.name}.{source}", to=f"{database.name}.{target}")


def hide_source(master_db: Database, source: str, target: str) -> Callable[[], None]:
    """Move the source out of both names, as a server that copies does before it creates the target."""
    rename_collection(master_db, source, IN_FLIGHT_NAME)

    def finish() -> None:
        rename_collection(master_db, IN_FLIGHT_NAME, target)

    return finish


def fill_target_partly(master_db: Database, source: str, target: str) -> Callable[[], None]:
    """Copy part of the source to the target, as a server that copies does before it drops the source."""
    master_db[target].insert_many(list(master_db[source].find().limit(2)))

    def finish() -> None:
        master_db.drop_collection(target)
        rename_collection(master_db, source, target)

    return finish


@pytest.mark.parametrize("midway", [hide_source, fill_target_partly], ids=["neither-exists", "both-exist"])
def test_rename_running_on_server_is_never_rolled_back(
    midway: Callable[[Database, str, str], Callable[[], None]],
    master_db: Database,
    mongo_client: MongoClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the server still copies, settling fails safe; once the server finishes, the rename completes."""
    tenant = prepare(RENAME, master_db)
    assert tenant is not None
    expected = tenant_data(master_db, tenant.collection_name)
    finish_on_server: list[Callable[[], None]] = []

    def rename(self: TenantCollectionRepository, *, source: TenantLocation, target: TenantLocation) -> None:
        finish_on_server.append(midway(master_db, source.collection_name, target.collection_name))
        raise NetworkTimeout("timed out reading from the server")

    monkeypatch.setattr(TenantCollectionRepository, "rename", rename)
    timed_out_response_is_accurate(run(RENAME, tenant), "rename")
    monkeypatch.undo()

    expire_leases(master_db)
    report = run_repair()

    stored = master_db.organizations.find_one()
    assert report["failed"] == 1
    assert report["orphan_collections"] == []
    assert report["unfinished_move_collections"] == [
        f"{master_db.name}.{tenant.collection_name}",
        f"{master_db.name}.org_acme_industries",
    ]
    assert stored["moving_from"]["collection_name"] == tenant.collection_name
    assert stored["collection_name"] == "org_acme_industries"
    if midway is hide_source:
        assert "org_acme_industries" not in master_db.list_collection_names()
    else:
        assert tenant_data(master_db, tenant.collection_name) == expected

    finish_on_server[0]()
    expire_leases(master_db)
    report = run_repair()

    assert report["failed"] == 0
    assert report["unfinished_move_collections"] == []
    check_outcome(f"rename still running on the server ({midway.__name__})", RENAME, mongo_client, master_db, expected)


@pytest.mark.parametrize("error_name", sorted(TIMEOUTS))
@pytest.mark.parametrize("when", ["before", "after"])
def test_delete_timeout_keeps_mark(
    when: str, error_name: str, master_db: Database, mongo_client: MongoClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = prepare(DELETE, master_db)
    original = TenantCollectionRepository.drop
    calls: list[int] = []

    def drop(self: TenantCollectionRepository, *, location: TenantLocation) -> None:
        calls.append(1)
        if len(calls) == 1 and when == "before":
            raise TIMEOUTS[error_name]()
        original(self, location=location)
        if len(calls) == 1:
            raise TIMEOUTS[error_name]()

    monkeypatch.setattr(TenantCollectionRepository, "drop", drop)

    response = run(DELETE, tenant)

    timed_out_response_is_accurate(response, "delete")
    still_leased(run_next_request(DELETE, tenant))
    expire_leases(master_db)
    assert run_next_request(DELETE, tenant).status == 200

    check_outcome(f"{error_name} {when} drop, then next-request", DELETE, mongo_client, master_db, None)
