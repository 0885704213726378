"""Every read and write of the master `organizations` collection."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ReturnDocument
from pymongo.client_session import ClientSession
from pymongo.database import Database

from orgservice.core.db import ORGANIZATIONS
from orgservice.models import Organization, TenantLocation
from orgservice.repositories.errors import raise_duplicates


def to_object_id(value: str) -> ObjectId | None:
    """Convert a string id to an ObjectId, or None when it is not a valid one."""
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


def _to_location(document: dict[str, Any] | None) -> TenantLocation | None:
    if not document:
        return None
    return TenantLocation(database_name=document["database_name"], collection_name=document["collection_name"])


def _from_location(location: TenantLocation) -> dict[str, str]:
    return {"database_name": location.database_name, "collection_name": location.collection_name}


def _to_organization(document: dict[str, Any]) -> Organization:
    return Organization(
        id=str(document["_id"]),
        organization_name=document["organization_name"],
        slug=document["slug"],
        location=TenantLocation(database_name=document["database_name"], collection_name=document["collection_name"]),
        version=document["version"],
        created_at=document["created_at"],
        updated_at=document["updated_at"],
        creating_since=document.get("creating_since"),
        moving_from=_to_location(document.get("moving_from")),
        deleting_since=document.get("deleting_since"),
        pending_since=document.get("pending_since"),
    )


class OrganizationRepository:
    """Reads and writes organization documents; duplicate slugs surface as DuplicateKeyError."""

    def __init__(self, database: Database) -> None:
        self._collection = database[ORGANIZATIONS]

    def insert(
        self,
        *,
        organization_name: str,
        slug: str,
        location: TenantLocation,
        now: datetime,
        session: ClientSession | None = None,
    ) -> Organization:
        """Insert the organization marked as being created; finish_create clears the mark."""
        document = {
            "organization_name": organization_name,
            "slug": slug,
            "database_name": location.database_name,
            "collection_name": location.collection_name,
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "creating_since": now,
            "pending_since": now,
        }
        with raise_duplicates("slug"):
            result = self._collection.insert_one(document, session=session)
        document["_id"] = result.inserted_id
        return _to_organization(document)

    def find_by_id(self, *, organization_id: str) -> Organization | None:
        object_id = to_object_id(organization_id)
        if object_id is None:
            return None
        document = self._collection.find_one({"_id": object_id})
        return _to_organization(document) if document else None

    def find_by_slug(self, *, slug: str) -> Organization | None:
        document = self._collection.find_one({"slug": slug})
        return _to_organization(document) if document else None

    def find_by_location(self, *, location: TenantLocation) -> Organization | None:
        document = self._collection.find_one(
            {"database_name": location.database_name, "collection_name": location.collection_name}
        )
        return _to_organization(document) if document else None

    def find_moving_from(self, *, location: TenantLocation) -> Organization | None:
        """Return the organization whose move mark names `location` as the collection it is moving away from."""
        document = self._collection.find_one({"moving_from": _from_location(location)})
        return _to_organization(document) if document else None

    def find_pending(self, *, started_before: datetime) -> list[Organization]:
        """Return the organizations whose create, rename or delete started before the given time."""
        cursor = self._collection.find({"pending_since": {"$lt": started_before}}).sort("pending_since", 1)
        return [_to_organization(document) for document in cursor]

    def list_locations(self) -> list[TenantLocation]:
        """Return every location that an organization uses or is moving away from."""
        projection = {"database_name": 1, "collection_name": 1, "moving_from": 1}
        locations: list[TenantLocation] = []
        for document in self._collection.find({}, projection):
            locations.append(
                TenantLocation(database_name=document["database_name"], collection_name=document["collection_name"])
            )
            earlier = _to_location(document.get("moving_from"))
            if earlier is not None:
                locations.append(earlier)
        return locations

    def finish_create(self, *, organization_id: str, expected_version: int) -> Organization | None:
        """Clear the create mark if the stored version still matches; return None when it does not."""
        document = self._collection.find_one_and_update(
            {"_id": to_object_id(organization_id), "version": expected_version, "creating_since": {"$exists": True}},
            {"$unset": {"creating_since": "", "pending_since": ""}, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return _to_organization(document) if document else None

    def update_name(
        self,
        *,
        organization_id: str,
        expected_version: int,
        organization_name: str,
        slug: str,
        location: TenantLocation,
        moving_from: TenantLocation | None,
        now: datetime,
        session: ClientSession | None = None,
    ) -> Organization | None:
        """Set name, slug and location if the stored version still matches; return None when it does not.

        A `moving_from` location marks a collection move in progress; None clears the mark.
        """
        changes: dict[str, Any] = {
            "$set": {
                "organization_name": organization_name,
                "slug": slug,
                "database_name": location.database_name,
                "collection_name": location.collection_name,
                "updated_at": now,
            },
            "$inc": {"version": 1},
        }
        if moving_from is None:
            changes["$unset"] = {"moving_from": "", "pending_since": ""}
        else:
            changes["$set"]["moving_from"] = _from_location(moving_from)
            changes["$set"]["pending_since"] = now

        with raise_duplicates("slug"):
            document = self._collection.find_one_and_update(
                {"_id": to_object_id(organization_id), "version": expected_version},
                changes,
                return_document=ReturnDocument.AFTER,
                session=session,
            )
        return _to_organization(document) if document else None

    def finish_move(self, *, organization_id: str, expected_version: int) -> Organization | None:
        """Clear the mark of a finished collection move if the stored version still matches."""
        document = self._collection.find_one_and_update(
            {"_id": to_object_id(organization_id), "version": expected_version},
            {"$unset": {"moving_from": "", "pending_since": ""}, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return _to_organization(document) if document else None

    def claim(self, *, organization_id: str, expected_version: int, now: datetime) -> Organization | None:
        """Restart the lease of the unfinished change at `now` if the stored version still matches.

        Of several requests that take over one expired change, only the first claim succeeds.
        """
        document = self._collection.find_one_and_update(
            {"_id": to_object_id(organization_id), "version": expected_version, "pending_since": {"$exists": True}},
            {"$set": {"pending_since": now}, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return _to_organization(document) if document else None

    def release(self, *, organization_id: str, expected_version: int, expired_at: datetime) -> bool:
        """Backdate the lease of a change whose request failed, so the next request finishes it at once."""
        result = self._collection.update_one(
            {"_id": to_object_id(organization_id), "version": expected_version, "pending_since": {"$exists": True}},
            {"$set": {"pending_since": expired_at}},
        )
        return result.modified_count == 1

    def mark_deleting(self, *, organization_id: str, expected_version: int, now: datetime) -> Organization | None:
        """Mark the organization as being deleted if the stored version still matches."""
        document = self._collection.find_one_and_update(
            {"_id": to_object_id(organization_id), "version": expected_version},
            {"$set": {"deleting_since": now, "pending_since": now}, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return _to_organization(document) if document else None

    def delete(
        self, *, organization_id: str, expected_version: int | None = None, session: ClientSession | None = None
    ) -> bool:
        """Delete the organization, only at `expected_version` when one is given; tell whether it was deleted."""
        query: dict[str, Any] = {"_id": to_object_id(organization_id)}
        if expected_version is not None:
            query["version"] = expected_version
        result = self._collection.delete_one(query, session=session)
        return result.deleted_count == 1
