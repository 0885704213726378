"""The one component that decides where a tenant's data lives.

Routes and services ask a TenantPlacement for a location and never build collection names
themselves, so a database-per-tenant or a shared-collection placement can replace this one later.
"""

from __future__ import annotations

from typing import Protocol

from orgservice.models import TenantLocation

TENANT_COLLECTION_PREFIX = "org_"


class TenantPlacement(Protocol):
    """Maps an organization's slug to the location of its data."""

    def locate(self, slug: str) -> TenantLocation: ...


class CollectionPerTenantPlacement:
    """One collection `org_<slug>` per tenant, in the master database.

    NOTE: MongoDB advises against unbounded collection counts (Atlas suggests at most 5,000 to
    100,000 collections and indexes per cluster, by tier), so very large fleets need another placement.
    """

    def __init__(self, database_name: str) -> None:
        self._database_name = database_name

    def locate(self, slug: str) -> TenantLocation:
        return TenantLocation(database_name=self._database_name, collection_name=f"{TENANT_COLLECTION_PREFIX}{slug}")
