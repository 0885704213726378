"""Token revocation, end to end: login, the authorizer's context, then the update and delete functions.

Changing the admin's email or password, or deleting the organization, revokes every token issued
before. The functions return 401 to such a token and change nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.database import Database

from tests.integration.functions.invoke import (
    Tenant,
    authorize,
    delete_organization,
    login,
    register,
    update_organization,
)

NEW_PASSWORD = "battery-staple-77"


def context_of(tenant: Tenant, password: str | None = None) -> dict[str, Any]:
    """Log in and run the authorizer on the token, returning the context the functions receive."""
    response = login(tenant.email, password or tenant.password)
    assert response.status == 200, response.body
    return authorize({"Authorization": f"Bearer {response.body['access_token']}"})["context"]


def stored(master_db: Database) -> dict[str, object]:
    return {
        "collections": sorted(master_db.list_collection_names()),
        "organizations": list(master_db.organizations.find().sort("_id")),
        "admins": list(master_db.admins.find().sort("_id")),
    }


def test_password_change_revokes_update(acme: Tenant, master_db: Database) -> None:
    context = context_of(acme)
    assert update_organization(context, {"password": NEW_PASSWORD}).status == 200
    before = stored(master_db)

    response = update_organization(context, {"organization_name": "Acme Industries"})

    assert response.status == 401
    assert "log in again" in response.detail
    assert stored(master_db) == before


def test_password_change_revokes_delete(acme: Tenant, master_db: Database) -> None:
    context = context_of(acme)
    assert update_organization(context, {"password": NEW_PASSWORD}).status == 200
    before = stored(master_db)

    assert delete_organization(context).status == 401
    assert stored(master_db) == before


def test_email_change_revokes_token(acme: Tenant, master_db: Database) -> None:
    context = context_of(acme)
    assert update_organization(context, {"email": "owner@acme.example.com"}).status == 200
    before = stored(master_db)

    assert update_organization(context, {"organization_name": "Acme Industries"}).status == 401
    assert delete_organization(context).status == 401
    assert stored(master_db) == before


def test_password_change_revokes_other_tokens(acme: Tenant) -> None:
    first = context_of(acme)
    second = context_of(acme)

    assert update_organization(second, {"password": NEW_PASSWORD}).status == 200

    assert update_organization(first, {"organization_name": "Acme Industries"}).status == 401


def test_new_login_after_password_change_works(acme: Tenant) -> None:
    assert update_organization(context_of(acme), {"password": NEW_PASSWORD}).status == 200

    context = context_of(acme, NEW_PASSWORD)

    assert update_organization(context, {"organization_name": "Acme Industries"}).status == 200


def test_rename_keeps_token_valid(acme: Tenant) -> None:
    context = context_of(acme)

    assert update_organization(context, {"organization_name": "Acme Industries"}).status == 200
    assert update_organization(context, {"organization_name": "Acme Corp"}).status == 200


def test_same_email_keeps_token_valid(acme: Tenant) -> None:
    context = context_of(acme)

    assert update_organization(context, {"email": acme.email.upper()}).status == 200
    assert update_organization(context, {"organization_name": "Acme Industries"}).status == 200


def test_password_change_raises_stored_version(acme: Tenant, master_db: Database) -> None:
    context = context_of(acme)

    update_organization(context, {"password": NEW_PASSWORD})

    assert master_db.admins.find_one({"email": acme.email})["token_version"] == 1


def test_deleted_organization_revokes_token(acme: Tenant, master_db: Database) -> None:
    context = context_of(acme)
    assert delete_organization(context).status == 200
    before = stored(master_db)

    assert update_organization(context, {"organization_name": "Acme Reborn"}).status == 401
    assert delete_organization(context).status == 401
    assert stored(master_db) == before


def test_recreated_organization_rejects_old_token(acme: Tenant, master_db: Database) -> None:
    context = context_of(acme)
    assert delete_organization(context).status == 200
    register(acme.name, acme.email, acme.password)
    before = stored(master_db)

    assert update_organization(context, {"organization_name": "Acme Reborn"}).status == 401
    assert delete_organization(context).status == 401
    assert stored(master_db) == before


@pytest.mark.parametrize("version", [None, "", "abc", "-1", "1.0", "１", True, -1])
def test_invalid_token_version_returns_401(acme: Tenant, master_db: Database, version: object) -> None:
    context = {"admin_id": acme.admin_id, "organization_id": acme.organization_id}
    if version is not None:
        context["token_version"] = version
    before = stored(master_db)

    assert update_organization(context, {"organization_name": "Acme Industries"}).status == 401
    assert delete_organization(context).status == 401
    assert stored(master_db) == before


def test_higher_token_version_returns_401(acme: Tenant) -> None:
    context = {**context_of(acme), "token_version": "1"}

    assert update_organization(context, {"organization_name": "Acme Industries"}).status == 401
