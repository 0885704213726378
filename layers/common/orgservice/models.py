"""Domain records that repositories return and services work with; ids are strings outside repositories."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class TenantLocation:
    """Database and collection that hold one tenant's data."""

    database_name: str
    collection_name: str

    @property
    def namespace(self) -> str:
        return f"{self.database_name}.{self.collection_name}"


@dataclass(frozen=True, slots=True)
class Organization:
    """An organization as stored in the master `organizations` collection."""

    id: str
    organization_name: str
    slug: str
    location: TenantLocation
    version: int
    created_at: datetime
    updated_at: datetime
    # Set while a create has stored the records but not yet confirmed the tenant collection.
    creating_since: datetime | None = None
    # Set while a rename moves the collection from this earlier location to `location`.
    moving_from: TenantLocation | None = None
    # Set while a delete removes the collection and the records.
    deleting_since: datetime | None = None
    # When the create, rename or delete in progress started, so a later request can tell one that died.
    pending_since: datetime | None = None

    @property
    def pending_operation(self) -> str | None:
        """Name of the unfinished change ("create", "rename" or "delete"), or None when there is none."""
        if self.deleting_since is not None:
            return "delete"
        if self.creating_since is not None:
            return "create"
        if self.moving_from is not None:
            return "rename"
        return None


@dataclass(frozen=True, slots=True)
class Admin:
    """An administrator of one organization, as stored in the master `admins` collection."""

    id: str
    organization_id: str
    email: str
    password_hash: bytes
    created_at: datetime
    # Raised by every change of email or password; tokens that carry a lower version are revoked.
    token_version: int = 0


@dataclass(frozen=True, slots=True)
class Principal:
    """Admin and organization ids that the authorizer took from a verified token."""

    admin_id: str
    organization_id: str
    # The admin's token version when the token was issued.
    token_version: int = 0
