"""TenantCollectionRepository against a real server: create, rename and drop of tenant collections."""

from __future__ import annotations

import pytest
from orgservice.models import TenantLocation
from orgservice.repositories.tenant_collections import TenantCollectionExistsError, TenantCollectionRepository
from pymongo import MongoClient
from pymongo.database import Database

from tests.integration.functions.tenant_data import documents, indexes, seed_tenant_data


@pytest.fixture
def repository(mongo_client: MongoClient) -> TenantCollectionRepository:
    return TenantCollectionRepository(mongo_client)


def location(database: Database, collection_name: str) -> TenantLocation:
    return TenantLocation(database_name=database.name, collection_name=collection_name)


def test_create_makes_empty_collection(repository: TenantCollectionRepository, master_db: Database) -> None:
    repository.create(location=location(master_db, "org_acme"))

    assert "org_acme" in master_db.list_collection_names()
    assert documents(master_db, "org_acme") == []


def test_create_existing_raises(repository: TenantCollectionRepository, master_db: Database) -> None:
    master_db["org_acme"].insert_one({"_id": 1})

    with pytest.raises(TenantCollectionExistsError):
        repository.create(location=location(master_db, "org_acme"))

    assert documents(master_db, "org_acme") == [{"_id": 1}]


def test_exists_reports_presence(repository: TenantCollectionRepository, master_db: Database) -> None:
    master_db["org_acme"].insert_one({"_id": 1})

    assert repository.exists(location=location(master_db, "org_acme"))
    assert not repository.exists(location=location(master_db, "org_acm"))


def test_rename_keeps_documents_and_indexes(repository: TenantCollectionRepository, master_db: Database) -> None:
    seed_tenant_data(master_db, "org_acme")
    before_documents = documents(master_db, "org_acme")
    before_indexes = indexes(master_db, "org_acme")

    repository.rename(source=location(master_db, "org_acme"), target=location(master_db, "org_globex"))

    assert documents(master_db, "org_globex") == before_documents
    assert indexes(master_db, "org_globex") == before_indexes
    assert "org_acme" not in master_db.list_collection_names()


def test_rename_onto_existing_raises(repository: TenantCollectionRepository, master_db: Database) -> None:
    master_db["org_acme"].insert_one({"_id": "acme"})
    master_db["org_globex"].insert_one({"_id": "globex"})

    with pytest.raises(TenantCollectionExistsError):
        repository.rename(source=location(master_db, "org_acme"), target=location(master_db, "org_globex"))

    assert documents(master_db, "org_acme") == [{"_id": "acme"}]
    assert documents(master_db, "org_globex") == [{"_id": "globex"}]


def test_drop_removes_collection(repository: TenantCollectionRepository, master_db: Database) -> None:
    master_db["org_acme"].insert_one({"_id": 1})

    repository.drop(location=location(master_db, "org_acme"))

    assert "org_acme" not in master_db.list_collection_names()


def test_drop_missing_collection_succeeds(repository: TenantCollectionRepository, master_db: Database) -> None:
    master_db["org_globex"].insert_one({"_id": 1})

    repository.drop(location=location(master_db, "org_acme"))

    assert master_db.list_collection_names() == ["org_globex"]
