"""DELETE /org/delete through the handler: organization, admins and collection go together."""

from __future__ import annotations

from bson import ObjectId
from pymongo.database import Database

from tests.integration.functions.invoke import (
    Tenant,
    create_organization,
    delete_organization,
    get_organization,
    login,
    update_organization,
)
from tests.integration.functions.tenant_data import documents, seed_tenant_data


def test_delete_returns_message(acme: Tenant) -> None:
    response = delete_organization(acme.context)

    assert response.status == 200
    assert response.body == {"message": "Organization 'Acme Corp' deleted successfully"}


def test_delete_removes_organization(acme: Tenant, master_db: Database) -> None:
    delete_organization(acme.context)

    assert master_db.organizations.find_one({"_id": ObjectId(acme.organization_id)}) is None


def test_delete_removes_admins(acme: Tenant, master_db: Database) -> None:
    delete_organization(acme.context)

    assert master_db.admins.count_documents({"organization_id": ObjectId(acme.organization_id)}) == 0
    assert master_db.admins.find_one({"_id": ObjectId(acme.admin_id)}) is None


def test_delete_drops_tenant_collection(acme: Tenant, master_db: Database) -> None:
    seed_tenant_data(master_db, acme.collection_name)

    delete_organization(acme.context)

    assert acme.collection_name not in master_db.list_collection_names()


def test_delete_leaves_other_tenant(acme: Tenant, globex: Tenant, master_db: Database) -> None:
    seed_tenant_data(master_db, globex.collection_name)
    before = documents(master_db, globex.collection_name)

    delete_organization(acme.context)

    assert documents(master_db, globex.collection_name) == before
    assert get_organization("Globex").status == 200
    assert login(globex.email, globex.password).status == 200


def test_delete_twice_rejected(acme: Tenant) -> None:
    delete_organization(acme.context)

    response = delete_organization(acme.context)

    assert response.status in (401, 404)
    assert isinstance(response.detail, str)


def test_delete_then_login_fails(acme: Tenant) -> None:
    delete_organization(acme.context)

    assert login(acme.email, acme.password).status == 401


def test_delete_then_get_returns_404(acme: Tenant) -> None:
    delete_organization(acme.context)

    assert get_organization("Acme Corp").status == 404


def test_delete_frees_name_and_email(acme: Tenant, master_db: Database) -> None:
    seed_tenant_data(master_db, acme.collection_name)
    delete_organization(acme.context)

    response = create_organization("Acme Corp", acme.email)

    assert response.status == 201
    assert documents(master_db, "org_acme_corp") == []


def test_delete_after_rename_drops_new_collection(acme: Tenant, master_db: Database) -> None:
    update_organization(acme.context, {"organization_name": "Acme Industries"})

    response = delete_organization(acme.context)

    assert response.body == {"message": "Organization 'Acme Industries' deleted successfully"}
    assert [name for name in master_db.list_collection_names() if name.startswith("org_")] == []


def test_delete_without_identity_returns_401(acme: Tenant, master_db: Database) -> None:
    response = delete_organization(None)

    assert response.status == 401
    assert master_db.organizations.count_documents({}) == 1
    assert acme.collection_name in master_db.list_collection_names()


def test_delete_mismatched_identity_returns_401(acme: Tenant, globex: Tenant, master_db: Database) -> None:
    response = delete_organization({"admin_id": acme.admin_id, "organization_id": globex.organization_id})

    assert response.status == 401
    assert master_db.organizations.count_documents({}) == 2
    assert globex.collection_name in master_db.list_collection_names()
