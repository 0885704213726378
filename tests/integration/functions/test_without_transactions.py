"""The handlers against a standalone server, where the service writes without transactions.

A SecantusDB started with --standalone reports no replica set in `hello`, so run_in_transaction passes
no session and the service undoes earlier writes itself when a later one fails.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bson import ObjectId
from orgservice.core import db
from orgservice.core.config import get_settings
from pymongo import MongoClient
from pymongo.database import Database

from local_api.embedded_db import EmbeddedMongo
from tests.integration.functions.invoke import (
    Tenant,
    create_organization,
    delete_organization,
    get_organization,
    login,
    register,
    run_concurrently,
    update_organization,
)
from tests.integration.functions.tenant_data import documents, seed_tenant_data


@pytest.fixture(scope="module")
def standalone_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoClient]:
    server = EmbeddedMongo(tmp_path_factory.mktemp("standalone") / "data", standalone=True).start()
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
    """Point the service at the standalone server and return the test's master database there."""
    host, port = standalone_client.address
    monkeypatch.setenv("MONGODB_URI", f"mongodb://{host}:{port}/")
    get_settings.cache_clear()
    db.reset()

    yield standalone_client[service_env["MONGODB_DATABASE"]]

    standalone_client.drop_database(service_env["MONGODB_DATABASE"])


@pytest.fixture
def acme(standalone_db: Database) -> Tenant:
    return register("Acme Corp", "admin@acme.example.com")


@pytest.fixture
def globex(standalone_db: Database) -> Tenant:
    return register("Globex", "admin@globex.example.com")


def organization_name(database: Database, tenant: Tenant) -> str:
    return database.organizations.find_one({"_id": ObjectId(tenant.organization_id)})["organization_name"]


def test_standalone_reports_no_transactions(standalone_db: Database) -> None:
    assert db.transactions_supported() is False


def test_standalone_create_stores_everything(standalone_db: Database) -> None:
    response = create_organization("Acme Corp", "Admin@Acme.Example.com")

    assert response.status == 201
    assert standalone_db.organizations.count_documents({}) == 1
    assert standalone_db.admins.find_one()["email"] == "admin@acme.example.com"
    assert "org_acme_corp" in standalone_db.list_collection_names()


def test_standalone_duplicate_name_conflicts(acme: Tenant, standalone_db: Database) -> None:
    response = create_organization("ACME-corp", "other@example.com")

    assert response.status == 409
    assert standalone_db.organizations.count_documents({}) == 1
    assert standalone_db.admins.count_documents({}) == 1


def test_standalone_duplicate_email_undoes_organization(acme: Tenant, standalone_db: Database) -> None:
    response = create_organization("Globex", acme.email)

    assert response.status == 409
    assert standalone_db.organizations.count_documents({}) == 1
    assert "org_globex" not in standalone_db.list_collection_names()
    assert create_organization("Globex", "admin@globex.example.com").status == 201


def test_standalone_parallel_creates(standalone_db: Database) -> None:
    calls = [lambda i=i: create_organization("Race Corp", f"admin{i}@example.com") for i in range(8)]

    statuses = sorted(response.status for response in run_concurrently(calls))

    assert statuses == [201] + [409] * 7
    assert standalone_db.organizations.count_documents({}) == 1
    assert standalone_db.admins.count_documents({}) == 1


def test_standalone_rename_moves_collection(acme: Tenant, standalone_db: Database) -> None:
    seed_tenant_data(standalone_db, acme.collection_name)
    before = documents(standalone_db, acme.collection_name)

    response = update_organization(acme.context, {"organization_name": "Acme Industries"})

    assert response.status == 200
    assert documents(standalone_db, "org_acme_industries") == before
    assert acme.collection_name not in standalone_db.list_collection_names()


def test_standalone_rename_onto_other_conflicts(acme: Tenant, globex: Tenant, standalone_db: Database) -> None:
    response = update_organization(acme.context, {"organization_name": "Globex"})

    assert response.status == 409
    assert organization_name(standalone_db, acme) == "Acme Corp"
    assert organization_name(standalone_db, globex) == "Globex"


def test_standalone_email_conflict_reverts_rename(acme: Tenant, globex: Tenant, standalone_db: Database) -> None:
    seed_tenant_data(standalone_db, acme.collection_name)
    before = documents(standalone_db, acme.collection_name)

    response = update_organization(acme.context, {"organization_name": "Acme Industries", "email": globex.email})

    assert response.status == 409
    assert organization_name(standalone_db, acme) == "Acme Corp"
    assert get_organization("Acme Corp").status == 200
    assert documents(standalone_db, acme.collection_name) == before
    assert login(acme.email, acme.password).status == 200


def test_standalone_password_change(acme: Tenant) -> None:
    update_organization(acme.context, {"password": "another-horse-42"})

    assert login(acme.email, "another-horse-42").status == 200
    assert login(acme.email, acme.password).status == 401


def test_standalone_delete_removes_everything(acme: Tenant, globex: Tenant, standalone_db: Database) -> None:
    response = delete_organization(acme.context)

    assert response.status == 200
    assert standalone_db.organizations.count_documents({}) == 1
    assert standalone_db.admins.count_documents({}) == 1
    assert acme.collection_name not in standalone_db.list_collection_names()
    assert delete_organization(acme.context).status in (401, 404)
