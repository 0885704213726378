"""OrganizationService against a real server, with single steps made to fail to check the rollback paths."""

from __future__ import annotations

import pytest
from bson import ObjectId
from orgservice.core import db
from orgservice.errors import ChangeInProgressError, ConflictError, MigrationFailedError, NotFoundError
from orgservice.models import Principal, TenantLocation
from orgservice.repositories.admins import AdminRepository
from orgservice.repositories.organizations import OrganizationRepository
from orgservice.repositories.tenant_collections import TenantCollectionRepository
from orgservice.services.admins import AdminService
from orgservice.services.organizations import OrganizationService, OrganizationWithAdmin
from pymongo.database import Database
from pymongo.errors import OperationFailure

from tests.integration.functions.tenant_data import documents, indexes, seed_tenant_data

PASSWORD = "correct-horse-42"


def principal_of(created: OrganizationWithAdmin) -> Principal:
    return Principal(admin_id=created.admin.id, organization_id=created.organization.id)


def transient_error() -> OperationFailure:
    return OperationFailure(
        "WriteConflict error: this operation conflicted with another operation",
        code=112,
        details={"errorLabels": ["TransientTransactionError"], "code": 112, "ok": 0},
    )


def fail_with(error: Exception):
    def fail(*args: object, **kwargs: object) -> None:
        raise error

    return fail


def tenant_collections(database: Database) -> list[str]:
    return sorted(name for name in database.list_collection_names() if name.startswith("org_"))


@pytest.fixture
def acme(organization_service: OrganizationService) -> OrganizationWithAdmin:
    return organization_service.create(organization_name="Acme Corp", email="admin@acme.example.com", password=PASSWORD)


@pytest.fixture
def transactions(service_env: dict[str, str]) -> None:
    if not db.transactions_supported():
        pytest.skip("the server runs without replica set, so no transaction is retried")


def test_create_returns_records(organization_service: OrganizationService, master_db: Database) -> None:
    created = organization_service.create(
        organization_name="Acme Corp", email="Admin@Acme.example.com", password=PASSWORD
    )

    assert created.organization.slug == "acme_corp"
    assert created.organization.location.collection_name == "org_acme_corp"
    assert created.organization.location.database_name == master_db.name
    assert created.organization.version == 2
    assert created.organization.pending_operation is None
    assert created.admin.email == "admin@acme.example.com"
    assert created.admin.organization_id == created.organization.id


def test_create_over_leftover_collection_conflicts(
    organization_service: OrganizationService, master_db: Database
) -> None:
    master_db["org_acme_corp"].insert_one({"_id": "leftover", "owner": "nobody"})

    with pytest.raises(ConflictError, match="already exists and no organization uses it"):
        organization_service.create(organization_name="Acme Corp", email="admin@acme.example.com", password=PASSWORD)

    assert master_db.organizations.count_documents({}) == 0
    assert master_db.admins.count_documents({}) == 0
    assert documents(master_db, "org_acme_corp") == [{"_id": "leftover", "owner": "nobody"}]


def test_create_collection_failure_removes_records(
    organization_service: OrganizationService, master_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(TenantCollectionRepository, "create", fail_with(OperationFailure("disk full", code=14031)))

    with pytest.raises(OperationFailure):
        organization_service.create(organization_name="Acme Corp", email="admin@acme.example.com", password=PASSWORD)

    assert master_db.organizations.count_documents({}) == 0
    assert master_db.admins.count_documents({}) == 0


def test_create_retries_transient_conflict(
    transactions: None, organization_service: OrganizationService, master_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    original_insert = OrganizationRepository.insert
    attempts: list[int] = []

    def conflict_once(self: OrganizationRepository, **kwargs: object) -> object:
        attempts.append(1)
        if len(attempts) == 1:
            raise transient_error()
        return original_insert(self, **kwargs)

    monkeypatch.setattr(OrganizationRepository, "insert", conflict_once)

    created = organization_service.create(
        organization_name="Acme Corp", email="admin@acme.example.com", password=PASSWORD
    )

    assert len(attempts) == 2
    assert master_db.organizations.count_documents({}) == 1
    assert master_db.admins.count_documents({"organization_id": ObjectId(created.organization.id)}) == 1


def test_create_retries_after_admin_conflict(
    transactions: None, organization_service: OrganizationService, master_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transient error on the second write also discards the first one before the rerun."""
    original_insert = AdminRepository.insert
    attempts: list[int] = []

    def conflict_once(self: AdminRepository, **kwargs: object) -> object:
        attempts.append(1)
        if len(attempts) == 1:
            raise transient_error()
        return original_insert(self, **kwargs)

    monkeypatch.setattr(AdminRepository, "insert", conflict_once)

    organization_service.create(organization_name="Acme Corp", email="admin@acme.example.com", password=PASSWORD)

    assert master_db.organizations.count_documents({}) == 1
    assert master_db.admins.count_documents({}) == 1


def test_create_gives_up_after_repeated_conflicts(
    transactions: None, organization_service: OrganizationService, master_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(AdminRepository, "insert", fail_with(transient_error()))

    with pytest.raises(ConflictError, match="concurrent request"):
        organization_service.create(organization_name="Acme Corp", email="admin@acme.example.com", password=PASSWORD)

    assert master_db.organizations.count_documents({}) == 0
    assert master_db.admins.count_documents({}) == 0
    assert tenant_collections(master_db) == []


def test_create_other_driver_error_not_retried(
    transactions: None, organization_service: OrganizationService, master_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[int] = []

    def fail(self: AdminRepository, **kwargs: object) -> None:
        attempts.append(1)
        raise OperationFailure("not authorized", code=13)

    monkeypatch.setattr(AdminRepository, "insert", fail)

    with pytest.raises(OperationFailure):
        organization_service.create(organization_name="Acme Corp", email="admin@acme.example.com", password=PASSWORD)

    assert attempts == [1]
    assert master_db.organizations.count_documents({}) == 0


@pytest.mark.parametrize("name", ["Acme Corp", "acme_corp", "ACME-CORP"])
def test_get_finds_by_slug(acme: OrganizationWithAdmin, organization_service: OrganizationService, name: str) -> None:
    assert organization_service.get(organization_name=name).id == acme.organization.id


def test_get_unknown_raises_not_found(organization_service: OrganizationService, service_env: dict[str, str]) -> None:
    with pytest.raises(NotFoundError, match="Organization 'Initech' not found"):
        organization_service.get(organization_name="Initech")


def test_update_bumps_version(acme: OrganizationWithAdmin, organization_service: OrganizationService) -> None:
    updated = organization_service.update(
        principal=principal_of(acme), organization_name="Acme Industries", email=None, password=None
    )

    assert updated.organization.version > acme.organization.version
    assert updated.organization.slug == "acme_industries"


def test_failed_move_restores_metadata(
    acme: OrganizationWithAdmin,
    organization_service: OrganizationService,
    admin_service: AdminService,
    master_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed_tenant_data(master_db, "org_acme_corp")
    before = documents(master_db, "org_acme_corp")
    monkeypatch.setattr(TenantCollectionRepository, "rename", fail_with(OperationFailure("interrupted", code=11601)))

    with pytest.raises(MigrationFailedError, match="was rolled back"):
        organization_service.update(
            principal=principal_of(acme),
            organization_name="Acme Industries",
            email="owner@acme.example.com",
            password="another-horse-42",
        )

    stored = master_db.organizations.find_one({"_id": ObjectId(acme.organization.id)})
    assert stored["organization_name"] == "Acme Corp"
    assert stored["slug"] == "acme_corp"
    assert stored["collection_name"] == "org_acme_corp"
    assert documents(master_db, "org_acme_corp") == before
    assert "org_acme_industries" not in master_db.list_collection_names()
    assert admin_service.login(email="admin@acme.example.com", password=PASSWORD).access_token


def test_failed_move_frees_new_name(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(TenantCollectionRepository, "rename", fail_with(OperationFailure("interrupted", code=11601)))
        with pytest.raises(MigrationFailedError):
            organization_service.update(
                principal=principal_of(acme), organization_name="Acme Industries", email=None, password=None
            )

    updated = organization_service.update(
        principal=principal_of(acme), organization_name="Acme Industries", email=None, password=None
    )

    assert updated.organization.location.collection_name == "org_acme_industries"


def test_rename_onto_leftover_collection_conflicts(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    seed_tenant_data(master_db, "org_acme_corp")
    own = documents(master_db, "org_acme_corp")
    master_db["org_acme_industries"].insert_one({"_id": "leftover"})

    with pytest.raises(ConflictError, match="already exists and no organization uses it"):
        organization_service.update(
            principal=principal_of(acme), organization_name="Acme Industries", email=None, password=None
        )

    assert master_db.organizations.find_one()["organization_name"] == "Acme Corp"
    assert master_db.organizations.find_one()["version"] == acme.organization.version
    assert documents(master_db, "org_acme_corp") == own
    assert documents(master_db, "org_acme_industries") == [{"_id": "leftover"}]


def test_rename_keeps_indexes(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    seed_tenant_data(master_db, "org_acme_corp")
    before = indexes(master_db, "org_acme_corp")

    organization_service.update(
        principal=principal_of(acme), organization_name="Acme Industries", email=None, password=None
    )

    assert indexes(master_db, "org_acme_industries") == before


def test_rename_error_after_move_finishes_rename(
    acme: OrganizationWithAdmin,
    organization_service: OrganizationService,
    master_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An error raised once the collection has moved finishes the rename instead of restoring the earlier name."""
    seed_tenant_data(master_db, "org_acme_corp")
    own = documents(master_db, "org_acme_corp")
    original = TenantCollectionRepository.rename

    def rename_then_fail(self: TenantCollectionRepository, *, source: TenantLocation, target: TenantLocation) -> None:
        original(self, source=source, target=target)
        raise OperationFailure("reply lost after the rename", code=1)

    monkeypatch.setattr(TenantCollectionRepository, "rename", rename_then_fail)

    updated = organization_service.update(
        principal=principal_of(acme), organization_name="Acme Industries", email=None, password=None
    )

    stored = master_db.organizations.find_one()
    assert updated.organization.location.collection_name == "org_acme_industries"
    assert stored["collection_name"] == "org_acme_industries"
    assert "moving_from" not in stored
    assert documents(master_db, "org_acme_industries") == own


def test_rename_without_collection_creates_none(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    """An empty collection at the new name would hide that the tenant's data is gone, so none is made."""
    master_db.drop_collection("org_acme_corp")

    with pytest.raises(ChangeInProgressError, match="neither collection exists"):
        organization_service.update(
            principal=principal_of(acme), organization_name="Acme Industries", email=None, password=None
        )

    stored = master_db.organizations.find_one()
    assert tenant_collections(master_db) == []
    assert stored["moving_from"]["collection_name"] == "org_acme_corp"
    assert stored["collection_name"] == "org_acme_industries"


def test_update_stale_version_conflicts(
    acme: OrganizationWithAdmin,
    organization_service: OrganizationService,
    master_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A change committed between reading and writing the organization wins, and this update stops."""
    original_resolve = AdminService.resolve

    def resolve_then_race(self: AdminService, principal: Principal) -> object:
        resolved = original_resolve(self, principal)
        master_db.organizations.update_one(
            {"_id": ObjectId(principal.organization_id)},
            {"$set": {"organization_name": "Raced"}, "$inc": {"version": 1}},
        )
        return resolved

    monkeypatch.setattr(AdminService, "resolve", resolve_then_race)

    with pytest.raises(ConflictError, match="changed by another request"):
        organization_service.update(
            principal=principal_of(acme), organization_name="Acme Industries", email=None, password=None
        )

    assert master_db.organizations.find_one()["organization_name"] == "Raced"
    assert tenant_collections(master_db) == ["org_acme_corp"]


def test_delete_retry_finishes_after_failure(
    acme: OrganizationWithAdmin,
    organization_service: OrganizationService,
    master_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(AdminRepository, "delete_by_organization", fail_with(OperationFailure("interrupted", code=11601)))
        with pytest.raises(OperationFailure):
            organization_service.delete(principal=principal_of(acme))

    assert master_db.organizations.count_documents({}) == 1
    assert tenant_collections(master_db) == []

    assert organization_service.delete(principal=principal_of(acme)) == "Acme Corp"
    assert master_db.organizations.count_documents({}) == 0
    assert master_db.admins.count_documents({}) == 0


def test_delete_removes_every_admin(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, master_db: Database
) -> None:
    """Admins added beside the first one belong to the organization too and go with it."""
    master_db.admins.insert_one(
        {"organization_id": ObjectId(acme.organization.id), "email": "second@acme.example.com", "password_hash": b""}
    )

    organization_service.delete(principal=principal_of(acme))

    assert master_db.admins.count_documents({}) == 0
