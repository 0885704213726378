"""TenantLifecycle against a real server: claiming expired changes, repair reports and orphan listing."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from orgservice.errors import ConflictError
from orgservice.core import db
from orgservice.core.config import get_settings
from orgservice.models import Principal
from orgservice.placement import CollectionPerTenantPlacement
from orgservice.repositories.admins import AdminRepository
from orgservice.repositories.organizations import OrganizationRepository
from orgservice.repositories.tenant_collections import TenantCollectionRepository
from orgservice.services.admins import AdminService
from orgservice.services.collections import CollectionService
from orgservice.services import checkpoints
from orgservice.services.lifecycle import PENDING_CHANGE_LEASE
from orgservice.services.organizations import OrganizationService, OrganizationWithAdmin
from pymongo.database import Database

from tests.integration.functions.tenant_data import seed_tenant_data

PASSWORD = "correct-horse-42"
EXPIRED = datetime.now(UTC) - PENDING_CHANGE_LEASE - timedelta(seconds=5)


@pytest.fixture
def acme(organization_service: OrganizationService, master_db: Database) -> OrganizationWithAdmin:
    created = organization_service.create(
        organization_name="Acme Corp", email="admin@acme.example.com", password=PASSWORD
    )
    seed_tenant_data(master_db, "org_acme_corp")
    return created


def mark_creating(master_db: Database, since: datetime) -> None:
    master_db.organizations.update_one({}, {"$set": {"creating_since": since, "pending_since": since}})


def test_repair_rolls_back_expired_create(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    master_db["org_acme_corp"].delete_many({})
    mark_creating(master_db, EXPIRED)

    report = organization_service.lifecycle.repair_expired()

    assert report.examined == 1
    assert report.rolled_back_creates == 1
    assert master_db.organizations.count_documents({}) == 0
    assert master_db.admins.count_documents({}) == 0
    assert "org_acme_corp" not in master_db.list_collection_names()


def test_repair_keeps_nonempty_collection_of_create(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    """A collection with documents may predate the create, so the rollback leaves it to an operator."""
    mark_creating(master_db, EXPIRED)

    report = organization_service.lifecycle.repair_expired()

    assert report.rolled_back_creates == 1
    assert master_db.organizations.count_documents({}) == 0
    assert master_db["org_acme_corp"].count_documents({}) == 6
    assert report.orphan_collections == [f"{master_db.name}.org_acme_corp"]


def test_repair_skips_running_change(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    mark_creating(master_db, datetime.now(UTC))

    report = organization_service.lifecycle.repair_expired()

    assert report.examined == 0
    assert master_db.organizations.count_documents({}) == 1


def test_repair_lists_orphans_without_dropping(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    master_db["org_leftover"].insert_one({"_id": "kept"})

    report = organization_service.lifecycle.repair_expired()

    assert report.orphan_collections == [f"{master_db.name}.org_leftover"]
    assert master_db["org_leftover"].count_documents({}) == 1


def test_settle_lost_claim_conflicts(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    """Of two requests that take over one expired change, the one whose version is stale stops."""
    mark_creating(master_db, EXPIRED)
    organization = organization_service._organizations.find_by_id(organization_id=acme.organization.id)
    # Another request claims the change after this one read the document.
    master_db.organizations.update_one({}, {"$inc": {"version": 1}})

    with pytest.raises(ConflictError, match="changed by another request"):
        organization_service.lifecycle.settle(organization)

    assert master_db.organizations.count_documents({}) == 1


def test_failed_delete_releases_lease(
    acme: OrganizationWithAdmin,
    organization_service: OrganizationService,
    master_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A delete that fails after its mark lets the next request finish it at once, without waiting for the lease."""
    principal = Principal(admin_id=acme.admin.id, organization_id=acme.organization.id)

    def fail(step: str) -> None:
        if step == "delete.collection_dropped":
            raise RuntimeError("injected")

    monkeypatch.setattr(checkpoints, "hook", fail)
    with pytest.raises(RuntimeError):
        organization_service.delete(principal=principal)
    monkeypatch.setattr(checkpoints, "hook", None)

    assert master_db.organizations.find_one()["pending_since"] < EXPIRED
    assert organization_service.delete(principal=principal) == "Acme Corp"
    assert master_db.organizations.count_documents({}) == 0


def service_placing_tenants_in(database_name: str, admin_service: AdminService) -> OrganizationService:
    """An OrganizationService whose placement puts new tenant collections in another database."""
    settings = get_settings()
    database = db.get_database(settings)
    return OrganizationService(
        organizations=OrganizationRepository(database),
        admins=AdminRepository(database),
        collections=CollectionService(
            placement=CollectionPerTenantPlacement(database_name),
            repository=TenantCollectionRepository(db.get_client()),
        ),
        admin_service=admin_service,
        run_in_transaction=db.run_in_transaction,
        settings=settings,
    )


def test_copying_rename_logs_method(
    acme: OrganizationWithAdmin,
    admin_service: AdminService,
    master_db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    other = f"{master_db.name}_tenants"
    service = service_placing_tenants_in(other, admin_service)
    principal = Principal(admin_id=acme.admin.id, organization_id=acme.organization.id)

    try:
        with caplog.at_level(logging.INFO):
            service.update(principal=principal, organization_name="Acme Labs", email=None, password=None)

        moved = [record for record in caplog.records if record.getMessage() == "Moved tenant collection"]
        assert [record.method for record in moved] == ["copy"]
        assert master_db.client[other]["org_acme_labs"].count_documents({}) == 6
        assert "org_acme_corp" not in master_db.list_collection_names()
    finally:
        master_db.client.drop_database(other)


def test_renaming_logs_rename_method(
    acme: OrganizationWithAdmin,
    organization_service: OrganizationService,
    caplog: pytest.LogCaptureFixture,
) -> None:
    principal = Principal(admin_id=acme.admin.id, organization_id=acme.organization.id)

    with caplog.at_level(logging.INFO):
        organization_service.update(principal=principal, organization_name="Acme Labs", email=None, password=None)

    moved = [record for record in caplog.records if record.getMessage() == "Moved tenant collection"]
    assert [record.method for record in moved] == ["renameCollection"]


def test_same_name_update_writes_nothing(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    principal = Principal(admin_id=acme.admin.id, organization_id=acme.organization.id)
    version = master_db.organizations.find_one()["version"]

    updated = organization_service.update(principal=principal, organization_name="Acme Corp", email=None, password=None)

    assert updated.organization.organization_name == "Acme Corp"
    assert master_db.organizations.find_one()["version"] == version


def leave_moved_rename(master_db: Database) -> None:
    """Store a rename to "Acme Labs" that died after moving the collection and before clearing its mark."""
    master_db.organizations.update_one(
        {"slug": "acme_corp"},
        {
            "$set": {
                "organization_name": "Acme Labs",
                "slug": "acme_labs",
                "collection_name": "org_acme_labs",
                "moving_from": {"database_name": master_db.name, "collection_name": "org_acme_corp"},
                "pending_since": EXPIRED,
            },
            "$inc": {"version": 1},
        },
    )
    master_db.client.admin.command(
        "renameCollection", f"{master_db.name}.org_acme_corp", to=f"{master_db.name}.org_acme_labs"
    )


def test_repair_leaves_new_owner_of_source(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    """A new organization that took the earlier name keeps its own collection when the dead rename is finished."""
    leave_moved_rename(master_db)
    organization_service.create(organization_name="Acme Corp", email="new@acme.example.com", password=PASSWORD)
    master_db["org_acme_corp"].insert_one({"_id": "new-owner"})

    report = organization_service.lifecycle.repair_expired()

    assert report.finished_renames == 1
    assert master_db["org_acme_labs"].count_documents({}) == 6
    assert [document["_id"] for document in master_db["org_acme_corp"].find()] == ["new-owner"]
    assert master_db.organizations.count_documents({"moving_from": {"$exists": True}}) == 0


def test_repair_waits_for_creating_owner_of_source(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    """While the new owner of the earlier name is still being created, whose collection is there is unclear."""
    leave_moved_rename(master_db)
    organization_service.create(organization_name="Acme Corp", email="new@acme.example.com", password=PASSWORD)
    master_db.organizations.update_one({"slug": "acme_corp"}, {"$set": {"creating_since": datetime.now(UTC)}})

    report = organization_service.lifecycle.repair_expired()

    assert report.failed == 1
    assert master_db["org_acme_labs"].count_documents({}) == 6
    assert master_db.organizations.count_documents({"moving_from": {"$exists": True}}) == 1
