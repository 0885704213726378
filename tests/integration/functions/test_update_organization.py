"""PUT /org/update through the handler, with the request context the authorizer sets."""

from __future__ import annotations

from datetime import datetime

import pytest
from bson import ObjectId
from pymongo.database import Database

from tests.integration.functions.invoke import (
    Tenant,
    authorize,
    create_organization,
    delete_organization,
    get_organization,
    login,
    run_concurrently,
    update_organization,
)
from tests.integration.functions.tenant_data import documents, indexes, seed_tenant_data


def organization_document(database: Database, tenant: Tenant) -> dict:
    return database.organizations.find_one({"_id": ObjectId(tenant.organization_id)})


def test_update_rename_returns_organization(acme: Tenant) -> None:
    response = update_organization(acme.context, {"organization_name": "Acme Industries"})

    assert response.status == 200
    assert response.body["message"] == "Organization updated successfully"
    assert response.body["organization"]["id"] == acme.organization_id
    assert response.body["organization"]["organization_name"] == "Acme Industries"
    assert response.body["organization"]["collection_name"] == "org_acme_industries"
    assert response.body["organization"]["admin_email"] == acme.email


def test_update_rename_stores_new_name(acme: Tenant, master_db: Database) -> None:
    update_organization(acme.context, {"organization_name": "Acme Industries"})

    document = organization_document(master_db, acme)

    assert document["organization_name"] == "Acme Industries"
    assert document["slug"] == "acme_industries"
    assert document["collection_name"] == "org_acme_industries"


def test_update_rename_keeps_created_at(acme: Tenant, master_db: Database) -> None:
    created_at = organization_document(master_db, acme)["created_at"]

    response = update_organization(acme.context, {"organization_name": "Acme Industries"})

    assert datetime.fromisoformat(response.body["organization"]["created_at"]) == created_at
    assert organization_document(master_db, acme)["created_at"] == created_at
    assert datetime.fromisoformat(response.body["organization"]["updated_at"]) >= created_at


def test_update_rename_moves_documents(acme: Tenant, master_db: Database) -> None:
    seed_tenant_data(master_db, acme.collection_name)
    before = documents(master_db, acme.collection_name)

    update_organization(acme.context, {"organization_name": "Acme Industries"})

    assert documents(master_db, "org_acme_industries") == before
    assert acme.collection_name not in master_db.list_collection_names()


def test_update_rename_keeps_indexes(acme: Tenant, master_db: Database) -> None:
    seed_tenant_data(master_db, acme.collection_name)
    before = indexes(master_db, acme.collection_name)

    update_organization(acme.context, {"organization_name": "Acme Industries"})

    assert indexes(master_db, "org_acme_industries") == before
    assert before.keys() == {"_id_", "sku_unique", "quantity_sku"}


def test_update_rename_then_get_by_new_name(acme: Tenant) -> None:
    update_organization(acme.context, {"organization_name": "Acme Industries"})

    assert get_organization("Acme Industries").body["id"] == acme.organization_id
    assert get_organization("Acme Corp").status == 404


def test_update_rename_frees_old_name(acme: Tenant) -> None:
    update_organization(acme.context, {"organization_name": "Acme Industries"})

    assert create_organization("Acme Corp", "new@acme.example.com").status == 201


@pytest.mark.parametrize("name", ["ACME corp", "acme_corp", "Acme-Corp", "Acmé Corp"])
def test_update_same_slug_keeps_collection(acme: Tenant, master_db: Database, name: str) -> None:
    seed_tenant_data(master_db, acme.collection_name)
    before = documents(master_db, acme.collection_name)

    response = update_organization(acme.context, {"organization_name": name})

    assert response.status == 200
    assert response.body["organization"]["organization_name"] == name
    assert response.body["organization"]["collection_name"] == acme.collection_name
    assert documents(master_db, acme.collection_name) == before
    assert indexes(master_db, acme.collection_name).keys() == {"_id_", "sku_unique", "quantity_sku"}


@pytest.mark.parametrize("name", ["Globex", "GLOBEX", "globex"])
def test_update_rename_onto_other_conflicts(acme: Tenant, globex: Tenant, master_db: Database, name: str) -> None:
    seed_tenant_data(master_db, acme.collection_name)
    seed_tenant_data(master_db, globex.collection_name)
    acme_before = documents(master_db, acme.collection_name)
    globex_before = documents(master_db, globex.collection_name)

    response = update_organization(acme.context, {"organization_name": name})

    assert response.status == 409
    assert "already exists" in response.detail
    assert organization_document(master_db, acme)["organization_name"] == "Acme Corp"
    assert organization_document(master_db, globex)["organization_name"] == "Globex"
    assert documents(master_db, acme.collection_name) == acme_before
    assert documents(master_db, globex.collection_name) == globex_before


def test_update_email_changes_login(acme: Tenant, master_db: Database) -> None:
    response = update_organization(acme.context, {"email": "New.Admin@Acme.Example.com"})

    assert response.status == 200
    assert response.body["organization"]["admin_email"] == "new.admin@acme.example.com"
    assert master_db.admins.find_one({"_id": ObjectId(acme.admin_id)})["email"] == "new.admin@acme.example.com"
    assert login("new.admin@acme.example.com", acme.password).status == 200
    assert login(acme.email, acme.password).status == 401


@pytest.mark.parametrize("email", ["admin@globex.example.com", "ADMIN@GLOBEX.example.com"])
def test_update_email_taken_conflicts(acme: Tenant, globex: Tenant, master_db: Database, email: str) -> None:
    response = update_organization(acme.context, {"email": email})

    assert response.status == 409
    assert "already exists" in response.detail
    assert master_db.admins.find_one({"_id": ObjectId(acme.admin_id)})["email"] == acme.email
    assert login(acme.email, acme.password).status == 200


def test_update_rename_with_taken_email(acme: Tenant, globex: Tenant, master_db: Database) -> None:
    seed_tenant_data(master_db, acme.collection_name)
    before = documents(master_db, acme.collection_name)

    response = update_organization(acme.context, {"organization_name": "Acme Industries", "email": globex.email})

    assert response.status == 409
    assert organization_document(master_db, acme)["organization_name"] == "Acme Corp"
    assert documents(master_db, acme.collection_name) == before
    assert "org_acme_industries" not in master_db.list_collection_names()


def test_update_password_changes_login(acme: Tenant) -> None:
    response = update_organization(acme.context, {"password": "another-horse-42"})

    assert response.status == 200
    assert login(acme.email, "another-horse-42").status == 200
    assert login(acme.email, acme.password).status == 401


def test_update_password_stores_new_hash(acme: Tenant, master_db: Database) -> None:
    before = master_db.admins.find_one({"_id": ObjectId(acme.admin_id)})["password_hash"]

    update_organization(acme.context, {"password": "another-horse-42"})

    after = master_db.admins.find_one({"_id": ObjectId(acme.admin_id)})["password_hash"]
    assert after != before
    assert "another-horse-42" not in repr(master_db.admins.find_one({"_id": ObjectId(acme.admin_id)}))


def test_update_all_fields_at_once(acme: Tenant) -> None:
    response = update_organization(
        acme.context,
        {"organization_name": "Acme Industries", "email": "owner@acme.example.com", "password": "another-horse-42"},
    )

    assert response.status == 200
    assert response.body["organization"]["collection_name"] == "org_acme_industries"
    assert login("owner@acme.example.com", "another-horse-42").status == 200


@pytest.mark.parametrize(
    "body", [{}, {"organization_name": None}, {"organization_name": None, "email": None, "password": None}]
)
def test_update_without_fields_returns_422(acme: Tenant, master_db: Database, body: dict) -> None:
    version = organization_document(master_db, acme)["version"]

    response = update_organization(acme.context, body)

    assert response.status == 422
    assert organization_document(master_db, acme)["version"] == version


def test_update_without_fields_names_rule(acme: Tenant) -> None:
    response = update_organization(acme.context, {})

    assert "at least one of organization_name, email or password" in response.detail


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        ({"organization_name": "a"}, "'organization_name'"),
        ({"organization_name": "😀"}, "'organization_name'"),
        ({"organization_name": "x\u0000y"}, "'organization_name'"),
        ({"email": "nope"}, "'email' is not a valid email address"),
        ({"email": {"$ne": None}}, "'email' must be a string"),
        ({"password": "short"}, "'password' must be at least 8 characters"),
        ({"password": "€" * 25}, "bcrypt"),
        ({"organization_id": "6b131ecb2e1f17fbed514e11"}, "'organization_id' is not an accepted field"),
        ({"admin_id": "6b131ecb2e1f17fbed514e12"}, "'admin_id' is not an accepted field"),
        ([{"organization_name": "Acme Industries"}], "must be a JSON object"),
    ],
)
def test_update_invalid_body_returns_422(acme: Tenant, master_db: Database, body: object, phrase: str) -> None:
    response = update_organization(acme.context, body)

    assert response.status == 422
    assert phrase in response.detail
    assert organization_document(master_db, acme)["organization_name"] == "Acme Corp"


@pytest.mark.parametrize(
    "context",
    [
        None,
        {},
        {"admin_id": "", "organization_id": ""},
        {"principalId": "someone"},
    ],
)
def test_update_without_identity_returns_401(acme: Tenant, master_db: Database, context: dict | None) -> None:
    response = update_organization(context, {"organization_name": "Acme Industries"})

    assert response.status == 401
    assert organization_document(master_db, acme)["organization_name"] == "Acme Corp"


def test_update_mismatched_identity_returns_401(acme: Tenant, globex: Tenant, master_db: Database) -> None:
    context = {"admin_id": acme.admin_id, "organization_id": globex.organization_id}

    response = update_organization(context, {"organization_name": "Hijacked"})

    assert response.status == 401
    assert organization_document(master_db, globex)["organization_name"] == "Globex"
    assert organization_document(master_db, acme)["organization_name"] == "Acme Corp"


@pytest.mark.parametrize("admin_id", ["not-an-object-id", "6b131ecb2e1f17fbed514eff", "{'$ne': None}"])
def test_update_unknown_admin_returns_401(acme: Tenant, master_db: Database, admin_id: str) -> None:
    response = update_organization(
        {"admin_id": admin_id, "organization_id": acme.organization_id}, {"organization_name": "Hijacked"}
    )

    assert response.status == 401
    assert organization_document(master_db, acme)["organization_name"] == "Acme Corp"


def test_update_after_delete_rejected(acme: Tenant, master_db: Database) -> None:
    delete_organization(acme.context)

    response = update_organization(acme.context, {"organization_name": "Acme Reborn"})

    assert response.status in (401, 404)
    assert master_db.organizations.count_documents({}) == 0
    assert "org_acme_reborn" not in master_db.list_collection_names()


def test_update_missing_organization_returns_404(acme: Tenant, master_db: Database) -> None:
    master_db.organizations.delete_one({"_id": ObjectId(acme.organization_id)})

    response = update_organization(acme.context, {"organization_name": "Acme Reborn"})

    assert response.status == 404
    assert "no longer exists" in response.detail
    assert master_db.organizations.count_documents({}) == 0


def test_update_token_survives_rename(acme: Tenant) -> None:
    token = login(acme.email, acme.password).body["access_token"]
    context = authorize({"Authorization": f"Bearer {token}"})["context"]
    update_organization(context, {"organization_name": "Acme Industries"})

    context_after = authorize({"Authorization": f"Bearer {token}"})["context"]
    response = update_organization(context_after, {"organization_name": "Acme Holdings"})

    assert response.status == 200
    assert response.body["organization"]["collection_name"] == "org_acme_holdings"


def test_update_rename_twice_and_back(acme: Tenant, master_db: Database) -> None:
    seed_tenant_data(master_db, acme.collection_name)
    before = documents(master_db, acme.collection_name)

    update_organization(acme.context, {"organization_name": "Acme Industries"})
    update_organization(acme.context, {"organization_name": "Acme Corp"})

    assert documents(master_db, "org_acme_corp") == before
    assert sorted(name for name in master_db.list_collection_names() if name.startswith("org_")) == ["org_acme_corp"]


def test_update_leaves_other_tenant_untouched(acme: Tenant, globex: Tenant, master_db: Database) -> None:
    seed_tenant_data(master_db, globex.collection_name)
    before = documents(master_db, globex.collection_name)

    update_organization(acme.context, {"organization_name": "Acme Industries", "password": "another-horse-42"})

    assert documents(master_db, globex.collection_name) == before
    assert organization_document(master_db, globex)["organization_name"] == "Globex"
    assert login(globex.email, globex.password).status == 200


def test_parallel_renames_onto_one_name(acme: Tenant, globex: Tenant, master_db: Database) -> None:
    seed_tenant_data(master_db, acme.collection_name)
    seed_tenant_data(master_db, globex.collection_name)
    before = {acme.collection_name: documents(master_db, acme.collection_name)}
    before[globex.collection_name] = documents(master_db, globex.collection_name)
    calls = [
        lambda tenant=tenant: update_organization(tenant.context, {"organization_name": "Initech"})
        for tenant in (acme, globex)
    ]

    responses = run_concurrently(calls)

    assert sorted(response.status for response in responses) == [200, 409]
    assert master_db.organizations.count_documents({"slug": "initech"}) == 1
    winner, loser = (acme, globex) if responses[0].status == 200 else (globex, acme)
    assert documents(master_db, "org_initech") == before[winner.collection_name]
    assert documents(master_db, loser.collection_name) == before[loser.collection_name]
    assert organization_document(master_db, loser)["organization_name"] == loser.name
