"""Renames and deletes that died between their steps, as a Lambda timeout leaves them, finished by the next request.

Each test writes the marks that a dead request leaves on the organization document and places the tenant
collection where that request left it, then sends the next request through the service.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from orgservice.errors import ChangeInProgressError, ConflictError, NotFoundError
from orgservice.models import Principal
from orgservice.services.lifecycle import PENDING_CHANGE_LEASE
from orgservice.services.organizations import OrganizationService, OrganizationWithAdmin
from pymongo.database import Database

from tests.integration.functions.tenant_data import documents, indexes, seed_tenant_data

PASSWORD = "correct-horse-42"


def principal_of(created: OrganizationWithAdmin) -> Principal:
    return Principal(admin_id=created.admin.id, organization_id=created.organization.id)


def tenant_collections(database: Database) -> list[str]:
    return sorted(name for name in database.list_collection_names() if name.startswith("org_"))


def started(ago: timedelta) -> datetime:
    return datetime.now(UTC) - ago


EXPIRED = PENDING_CHANGE_LEASE + timedelta(seconds=5)
FRESH = timedelta(seconds=1)


@pytest.fixture
def acme(organization_service: OrganizationService, master_db: Database) -> OrganizationWithAdmin:
    created = organization_service.create(
        organization_name="Acme Corp", email="admin@acme.example.com", password=PASSWORD
    )
    seed_tenant_data(master_db, "org_acme_corp")
    return created


def leave_rename_half_done(master_db: Database, created: OrganizationWithAdmin, *, ago: timedelta, moved: bool) -> None:
    """Store the state of a rename to "Acme Labs" that died after its metadata commit."""
    master_db.organizations.update_one(
        {"_id": master_db.organizations.find_one()["_id"]},
        {
            "$set": {
                "organization_name": "Acme Labs",
                "slug": "acme_labs",
                "collection_name": "org_acme_labs",
                "moving_from": {"database_name": master_db.name, "collection_name": "org_acme_corp"},
                "pending_since": started(ago),
            },
            "$inc": {"version": 1},
        },
    )
    if moved:
        master_db.client.admin.command(
            "renameCollection", f"{master_db.name}.org_acme_corp", to=f"{master_db.name}.org_acme_labs"
        )


@pytest.mark.parametrize("moved", [False, True], ids=["before-move", "after-move"])
def test_update_finishes_expired_rename(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database, moved: bool
) -> None:
    before_documents = documents(master_db, "org_acme_corp")
    before_indexes = indexes(master_db, "org_acme_corp")
    leave_rename_half_done(master_db, acme, ago=EXPIRED, moved=moved)

    updated = organization_service.update(
        principal=principal_of(acme), organization_name=None, email="owner@acme.example.com", password=None
    )

    stored = master_db.organizations.find_one()
    assert updated.organization.location.collection_name == "org_acme_labs"
    assert "moving_from" not in stored
    assert "pending_since" not in stored
    assert tenant_collections(master_db) == ["org_acme_labs"]
    assert documents(master_db, "org_acme_labs") == before_documents
    assert indexes(master_db, "org_acme_labs") == before_indexes


def test_update_rejects_running_rename(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    leave_rename_half_done(master_db, acme, ago=FRESH, moved=False)

    with pytest.raises(ConflictError, match="being renamed"):
        organization_service.update(
            principal=principal_of(acme), organization_name="Acme Other", email=None, password=None
        )

    assert tenant_collections(master_db) == ["org_acme_corp"]
    assert master_db.organizations.find_one()["slug"] == "acme_labs"


def test_running_rename_conflict_names_wait(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    """The 409 names the seconds left on the lease, which may be most of a minute."""
    leave_rename_half_done(master_db, acme, ago=FRESH, moved=False)

    with pytest.raises(ChangeInProgressError) as raised:
        organization_service.update(principal=principal_of(acme), organization_name=None, email=None, password="x" * 9)

    lease_seconds = PENDING_CHANGE_LEASE.total_seconds()
    assert lease_seconds - 5 <= raised.value.retry_after <= lease_seconds
    assert f"retry in {raised.value.retry_after} seconds" in raised.value.message


def test_create_at_source_of_running_rename_names_owner(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    """The earlier collection of a running rename is that tenant's data, never a leftover to remove."""
    leave_rename_half_done(master_db, acme, ago=FRESH, moved=False)

    with pytest.raises(ChangeInProgressError, match="still contains the data of organization 'Acme Labs'") as raised:
        organization_service.create(organization_name="Acme Corp", email="new@acme.example.com", password=PASSWORD)

    assert "operator" not in raised.value.message
    assert master_db["org_acme_corp"].count_documents({}) == 6


def test_expired_rename_without_collections_creates_none(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    """With neither collection present the server may still be copying, so settling invents nothing."""
    leave_rename_half_done(master_db, acme, ago=EXPIRED, moved=False)
    master_db.client.admin.command(
        "renameCollection", f"{master_db.name}.org_acme_corp", to=f"{master_db.name}.copy_in_progress"
    )

    with pytest.raises(ChangeInProgressError, match="neither collection exists"):
        organization_service.update(principal=principal_of(acme), organization_name=None, email=None, password="x" * 9)

    assert tenant_collections(master_db) == []
    assert master_db.organizations.find_one()["moving_from"]["collection_name"] == "org_acme_corp"


def test_expired_rename_with_both_collections_conflicts(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    leave_rename_half_done(master_db, acme, ago=EXPIRED, moved=False)
    master_db["org_acme_labs"].insert_one({"written": "elsewhere"})

    with pytest.raises(ConflictError, match="both collections exist.*an operator must inspect both"):
        organization_service.update(
            principal=principal_of(acme), organization_name="Acme Other", email=None, password=None
        )

    assert master_db["org_acme_corp"].count_documents({}) == 6
    assert master_db["org_acme_labs"].count_documents({}) == 1


def leave_delete_half_done(master_db: Database, *, ago: timedelta) -> None:
    """Store the state of a delete that died after dropping the tenant collection."""
    since = started(ago)
    master_db.organizations.update_one({}, {"$set": {"deleting_since": since, "pending_since": since}})
    master_db.drop_collection("org_acme_corp")


def test_update_finishes_expired_delete(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    leave_delete_half_done(master_db, ago=EXPIRED)

    with pytest.raises(NotFoundError):
        organization_service.update(
            principal=principal_of(acme), organization_name="Acme Labs", email=None, password=None
        )

    assert master_db.organizations.count_documents({}) == 0
    assert master_db.admins.count_documents({}) == 0
    assert tenant_collections(master_db) == []


def test_update_rejects_running_delete(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    leave_delete_half_done(master_db, ago=FRESH)

    with pytest.raises(ConflictError, match="being deleted"):
        organization_service.update(
            principal=principal_of(acme), organization_name="Acme Labs", email=None, password=None
        )

    assert tenant_collections(master_db) == []
    assert master_db.organizations.find_one()["slug"] == "acme_corp"


def test_delete_rejects_running_delete(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    """A second delete while the first one runs could drop a collection created after the first finished."""
    leave_delete_half_done(master_db, ago=FRESH)

    with pytest.raises(ConflictError, match="being deleted"):
        organization_service.delete(principal=principal_of(acme))

    assert master_db.organizations.count_documents({}) == 1


def test_delete_finishes_expired_delete(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    leave_delete_half_done(master_db, ago=EXPIRED)

    assert organization_service.delete(principal=principal_of(acme)) == "Acme Corp"

    assert master_db.organizations.count_documents({}) == 0
    assert master_db.admins.count_documents({}) == 0


def test_get_hides_organization_being_deleted(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    leave_delete_half_done(master_db, ago=FRESH)

    with pytest.raises(NotFoundError, match="not found"):
        organization_service.get(organization_name="Acme Corp")


def test_delete_rejects_running_rename(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    leave_rename_half_done(master_db, acme, ago=FRESH, moved=True)

    with pytest.raises(ConflictError, match="being renamed"):
        organization_service.delete(principal=principal_of(acme))

    assert tenant_collections(master_db) == ["org_acme_labs"]
    assert master_db.organizations.count_documents({}) == 1


def test_create_finishes_expired_delete_of_name(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    leave_delete_half_done(master_db, ago=EXPIRED)

    created = organization_service.create(
        organization_name="Acme Corp", email="admin@acme.example.com", password=PASSWORD
    )

    assert created.organization.id != acme.organization.id
    assert master_db.organizations.count_documents({}) == 1
    assert master_db.admins.count_documents({}) == 1
    assert tenant_collections(master_db) == ["org_acme_corp"]
    assert master_db["org_acme_corp"].count_documents({}) == 0


def test_create_finishes_expired_delete_of_email(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    leave_delete_half_done(master_db, ago=EXPIRED)

    organization_service.create(organization_name="Globex", email="admin@acme.example.com", password=PASSWORD)

    assert [document["slug"] for document in master_db.organizations.find()] == ["globex"]
    assert tenant_collections(master_db) == ["org_globex"]


def test_create_rejects_name_of_running_delete(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    leave_delete_half_done(master_db, ago=FRESH)

    with pytest.raises(ConflictError, match="is being deleted"):
        organization_service.create(organization_name="Acme Corp", email="new@acme.example.com", password=PASSWORD)

    assert master_db.organizations.count_documents({}) == 1
