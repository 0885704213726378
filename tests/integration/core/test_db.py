"""The container's MongoDB client, index creation and run_in_transaction against a real server."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from orgservice.core import db
from orgservice.errors import ConflictError
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, OperationFailure


def transient_error() -> OperationFailure:
    return OperationFailure(
        "WriteConflict", code=112, details={"errorLabels": ["TransientTransactionError"], "code": 112, "ok": 0}
    )


@pytest.fixture
def transactions(service_env: dict[str, str]) -> None:
    if not db.transactions_supported():
        pytest.skip("the server runs without replica set, so writes run without transactions")


def test_get_database_creates_unique_indexes(master_db: Database) -> None:
    db.get_database()

    organization_indexes = master_db.organizations.index_information()
    admin_indexes = master_db.admins.index_information()
    assert organization_indexes["slug_unique"]["unique"] is True
    assert organization_indexes["slug_unique"]["key"] == [("slug", 1)]
    assert admin_indexes["email_unique"]["unique"] is True
    assert admin_indexes["email_unique"]["key"] == [("email", 1)]
    assert admin_indexes["organization_id"]["key"] == [("organization_id", 1)]


def test_get_database_uses_configured_name(master_db: Database) -> None:
    assert db.get_database().name == master_db.name


def test_unique_slug_index_rejects_duplicate(master_db: Database) -> None:
    db.get_database()
    master_db.organizations.insert_one({"slug": "acme"})

    with pytest.raises(DuplicateKeyError):
        master_db.organizations.insert_one({"slug": "acme"})


def test_client_reused_until_reset(service_env: dict[str, str]) -> None:
    first = db.get_client()

    assert db.get_client() is first
    db.reset()
    assert db.get_client() is not first


def test_client_built_once_across_threads(service_env: dict[str, str]) -> None:
    db.reset()
    barrier = threading.Barrier(8)

    def build() -> MongoClient:
        barrier.wait(timeout=30)
        return db.get_client()

    with ThreadPoolExecutor(max_workers=8) as pool:
        clients = list(pool.map(lambda _number: build(), range(8)))

    assert len({id(client) for client in clients}) == 1
    assert clients[0] is db.get_client()


def test_transaction_support_matches_server(service_env: dict[str, str], mongo_client: MongoClient) -> None:
    hello = mongo_client.admin.command("hello")

    assert db.transactions_supported() == (bool(hello.get("setName")) or hello.get("msg") == "isdbgrid")


def test_transaction_commits_work(transactions: None, master_db: Database) -> None:
    def work(session: object) -> str:
        collection = db.get_client()[master_db.name]["items"]
        collection.insert_one({"_id": "a"}, session=session)
        collection.insert_one({"_id": "b"}, session=session)
        return "done"

    assert db.run_in_transaction(work) == "done"
    assert sorted(document["_id"] for document in master_db["items"].find()) == ["a", "b"]


def test_transaction_aborts_on_error(transactions: None, master_db: Database) -> None:
    def work(session: object) -> None:
        db.get_client()[master_db.name]["items"].insert_one({"_id": "a"}, session=session)
        raise ValueError("stop")

    with pytest.raises(ValueError, match="stop"):
        db.run_in_transaction(work)

    assert master_db["items"].count_documents({}) == 0


def test_transaction_retries_transient_error(transactions: None, master_db: Database) -> None:
    attempts: list[int] = []

    def work(session: object) -> int:
        attempts.append(1)
        db.get_client()[master_db.name]["items"].insert_one({"attempt": len(attempts)}, session=session)
        if len(attempts) == 1:
            raise transient_error()
        return len(attempts)

    assert db.run_in_transaction(work) == 2
    assert [document["attempt"] for document in master_db["items"].find()] == [2]


def test_transaction_gives_up_with_conflict(transactions: None, service_env: dict[str, str]) -> None:
    attempts: list[int] = []

    def work(session: object) -> None:
        attempts.append(1)
        raise transient_error()

    with pytest.raises(ConflictError, match="retry the request"):
        db.run_in_transaction(work)

    assert len(attempts) == db.TRANSACTION_ATTEMPTS


def test_transaction_passes_other_errors(transactions: None, service_env: dict[str, str]) -> None:
    attempts: list[int] = []

    def work(session: object) -> None:
        attempts.append(1)
        raise OperationFailure("not authorized", code=13)

    with pytest.raises(OperationFailure, match="not authorized"):
        db.run_in_transaction(work)

    assert attempts == [1]


def test_transaction_passes_session_when_supported(transactions: None, service_env: dict[str, str]) -> None:
    in_transaction: list[bool] = []

    db.run_in_transaction(lambda session: in_transaction.append(session is not None and session.in_transaction))

    assert in_transaction == [True]


def test_get_client_from_threads_builds_one(service_env: dict[str, str]) -> None:
    """Threads that ask for the first client at once all get the same one, so their sessions fit it."""
    barrier = threading.Barrier(8)

    def build() -> MongoClient:
        barrier.wait(timeout=10)
        return db.get_client()

    with ThreadPoolExecutor(max_workers=8) as executor:
        clients = list(executor.map(lambda _index: build(), range(8)))

    assert len({id(client) for client in clients}) == 1
