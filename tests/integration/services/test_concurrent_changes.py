"""Two requests that change one organization at once, with the first one held between its two steps.

An update commits the new name first and moves the tenant collection second. These tests hold the first
request at the move and run the second request in that window, so the interleaving is deterministic.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from orgservice.errors import ConflictError
from orgservice.models import Principal, TenantLocation
from orgservice.services.collections import CollectionService
from orgservice.services.organizations import OrganizationService, OrganizationWithAdmin
from pymongo.database import Database

from tests.integration.functions.tenant_data import documents, seed_tenant_data

PASSWORD = "correct-horse-42"
WAIT_SECONDS = 30


class HeldMove:
    """Gate that holds the first CollectionService.move call until released and lets later calls through."""

    def __init__(self, original: Callable[..., None]) -> None:
        self._original = original
        self._calls = 0
        self._lock = threading.Lock()
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, service: CollectionService, source: TenantLocation, target: TenantLocation) -> None:
        with self._lock:
            self._calls += 1
            first = self._calls == 1
        if first:
            self.reached.set()
            assert self.release.wait(WAIT_SECONDS)
        self._original(service, source, target)


@pytest.fixture
def held_move(monkeypatch: pytest.MonkeyPatch) -> HeldMove:
    gate = HeldMove(CollectionService.move)

    def move(service: CollectionService, source: TenantLocation, target: TenantLocation) -> None:
        gate(service, source, target)

    monkeypatch.setattr(CollectionService, "move", move)
    return gate


@pytest.fixture
def acme(organization_service: OrganizationService, master_db: Database) -> OrganizationWithAdmin:
    created = organization_service.create(
        organization_name="Acme Corp", email="admin@acme.example.com", password=PASSWORD
    )
    seed_tenant_data(master_db, created.organization.location.collection_name)
    return created


class Background:
    """One call running in its own thread, with the exception it raised, if any."""

    def __init__(self, call: Callable[[], object]) -> None:
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._run, args=(call,))
        self._thread.start()

    def _run(self, call: Callable[[], object]) -> None:
        try:
            call()
        except Exception as error:
            self.error = error

    def join(self) -> None:
        self._thread.join(WAIT_SECONDS)


def collections_with_data(database: Database) -> list[str]:
    """Return the names of the tenant collections that contain any document."""
    names = [name for name in database.list_collection_names() if name.startswith("org_")]
    return sorted(name for name in names if database[name].count_documents({}))


def test_concurrent_renames_keep_data_with_organization(
    acme: OrganizationWithAdmin,
    organization_service: OrganizationService,
    master_db: Database,
    held_move: HeldMove,
) -> None:
    principal = Principal(admin_id=acme.admin.id, organization_id=acme.organization.id)
    before = documents(master_db, "org_acme_corp")

    first = Background(
        lambda: organization_service.update(
            principal=principal, organization_name="Acme Alpha", email=None, password=None
        )
    )
    assert held_move.reached.wait(WAIT_SECONDS)
    try:
        with pytest.raises(ConflictError, match="being renamed"):
            organization_service.update(principal=principal, organization_name="Acme Beta", email=None, password=None)
    finally:
        held_move.release.set()
        first.join()

    stored = master_db.organizations.find_one()
    assert first.error is None
    assert documents(master_db, stored["collection_name"]) == before
    assert collections_with_data(master_db) == [stored["collection_name"]]


def test_delete_during_rename_leaves_no_data(
    acme: OrganizationWithAdmin,
    organization_service: OrganizationService,
    master_db: Database,
    held_move: HeldMove,
) -> None:
    principal = Principal(admin_id=acme.admin.id, organization_id=acme.organization.id)

    rename = Background(
        lambda: organization_service.update(
            principal=principal, organization_name="Acme Alpha", email=None, password=None
        )
    )
    assert held_move.reached.wait(WAIT_SECONDS)
    try:
        with pytest.raises(ConflictError, match="being renamed"):
            organization_service.delete(principal=principal)
    finally:
        held_move.release.set()
        rename.join()

    stored = master_db.organizations.find_one()
    assert rename.error is None
    assert stored["collection_name"] == "org_acme_alpha"
    assert collections_with_data(master_db) == ["org_acme_alpha"]
