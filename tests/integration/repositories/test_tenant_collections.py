"""TenantCollectionRepository against a real server: create, rename and drop of tenant collections."""

from __future__ import annotations

import pytest
from orgservice.models import TenantLocation
from orgservice.repositories.tenant_collections import TenantCollectionExistsError, TenantCollectionRepository
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import BulkWriteError

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


def test_copy_keeps_documents_and_indexes(
    repository: TenantCollectionRepository, master_db: Database, mongo_client: MongoClient
) -> None:
    seed_tenant_data(master_db, "org_acme")
    other = mongo_client[f"{master_db.name}_tenants"]
    source = location(master_db, "org_acme")
    target = location(other, "org_acme")
    try:
        repository.create(location=target, options=repository.options(location=source))
        names = repository.copy_indexes(source=source, target=target)
        for batch in repository.batches(location=source, batch_size=4):
            assert len(batch) <= 4
            repository.insert_missing(location=target, documents=batch)

        assert sorted(names) == ["quantity_sku", "sku_unique"]
        assert documents(other, "org_acme") == documents(master_db, "org_acme")
        assert indexes(other, "org_acme") == indexes(master_db, "org_acme")
    finally:
        mongo_client.drop_database(other.name)


def test_insert_missing_skips_present_ids(repository: TenantCollectionRepository, master_db: Database) -> None:
    master_db["org_acme"].insert_one({"_id": 1, "version": "copied earlier"})

    inserted = repository.insert_missing(
        location=location(master_db, "org_acme"), documents=[{"_id": 1, "version": "again"}, {"_id": 2}]
    )

    assert inserted == 1
    assert documents(master_db, "org_acme") == [{"_id": 1, "version": "copied earlier"}, {"_id": 2}]


def test_insert_missing_raises_other_errors(repository: TenantCollectionRepository, master_db: Database) -> None:
    master_db["org_acme"].create_index("sku", unique=True)
    master_db["org_acme"].insert_one({"_id": 1, "sku": "a"})

    with pytest.raises(BulkWriteError):
        repository.insert_missing(location=location(master_db, "org_acme"), documents=[{"_id": 2, "sku": "a"}])


def test_list_tenant_collections_filters_prefix(repository: TenantCollectionRepository, master_db: Database) -> None:
    master_db["org_acme"].insert_one({"_id": 1})
    master_db["organizations"].insert_one({"_id": 1})

    found = repository.list_tenant_collections(database_name=master_db.name, prefix="org_")

    assert found == [location(master_db, "org_acme")]
