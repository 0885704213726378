"""Wiring of the services that every entry point shares, free of FastAPI so the repair function can use it."""

from __future__ import annotations

from pymongo.database import Database

from orgservice.core import db
from orgservice.core.config import Settings
from orgservice.placement import CollectionPerTenantPlacement
from orgservice.repositories.admins import AdminRepository
from orgservice.repositories.organizations import OrganizationRepository
from orgservice.repositories.tenant_collections import TenantCollectionRepository
from orgservice.services.collections import CollectionService
from orgservice.services.lifecycle import TenantLifecycle


def build_collection_service(database: Database) -> CollectionService:
    """Build the collection service with the placement that decides where each tenant's data lives."""
    return CollectionService(
        placement=CollectionPerTenantPlacement(database.name),
        repository=TenantCollectionRepository(db.get_client()),
    )


def build_lifecycle(settings: Settings) -> TenantLifecycle:
    """Build the lifecycle service that settles interrupted creates, renames and deletes."""
    database = db.get_database(settings)
    return TenantLifecycle(
        organizations=OrganizationRepository(database),
        admins=AdminRepository(database),
        collections=build_collection_service(database),
        run_in_transaction=db.run_in_transaction,
        master_database_name=database.name,
    )
