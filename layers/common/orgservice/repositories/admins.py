"""Every read and write of the master `admins` collection."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.client_session import ClientSession
from pymongo.database import Database

from orgservice.core.db import ADMINS
from orgservice.models import Admin
from orgservice.repositories.errors import raise_duplicates
from orgservice.repositories.organizations import to_object_id


def _to_admin(document: dict[str, Any]) -> Admin:
    return Admin(
        id=str(document["_id"]),
        organization_id=str(document["organization_id"]),
        email=document["email"],
        password_hash=bytes(document["password_hash"]),
        created_at=document["created_at"],
        # Admins stored before token versions existed have none, which counts as 0.
        token_version=int(document.get("token_version", 0)),
    )


class AdminRepository:
    """Reads and writes admin documents; emails are stored lowercased and unique by index."""

    def __init__(self, database: Database) -> None:
        self._collection = database[ADMINS]

    def insert(
        self,
        *,
        organization_id: str,
        email: str,
        password_hash: bytes,
        now: datetime,
        session: ClientSession | None = None,
    ) -> Admin:
        document = {
            "organization_id": to_object_id(organization_id),
            "email": email,
            "password_hash": password_hash,
            "created_at": now,
            "updated_at": now,
            "token_version": 0,
        }
        with raise_duplicates("email"):
            result = self._collection.insert_one(document, session=session)
        document["_id"] = result.inserted_id
        return _to_admin(document)

    def find_by_id(self, *, admin_id: str) -> Admin | None:
        object_id = to_object_id(admin_id)
        if object_id is None:
            return None
        document = self._collection.find_one({"_id": object_id})
        return _to_admin(document) if document else None

    def find_by_email(self, *, email: str) -> Admin | None:
        document = self._collection.find_one({"email": email})
        return _to_admin(document) if document else None

    def update_credentials(
        self,
        *,
        admin_id: str,
        email: str,
        password_hash: bytes,
        now: datetime,
        session: ClientSession | None = None,
    ) -> bool:
        """Replace the admin's email and password hash; return False when the admin no longer exists.

        A change of either value raises the token version, which revokes every token issued before.
        Writing the stored values again changes nothing, so an undone rename keeps the tokens valid.
        """
        object_id = to_object_id(admin_id)
        with raise_duplicates("email"):
            result = self._collection.update_one(
                {"_id": object_id, "$or": [{"email": {"$ne": email}}, {"password_hash": {"$ne": password_hash}}]},
                {
                    "$set": {"email": email, "password_hash": password_hash, "updated_at": now},
                    "$inc": {"token_version": 1},
                },
                session=session,
            )
        if result.matched_count == 1:
            return True
        return self._collection.count_documents({"_id": object_id}, limit=1, session=session) == 1

    def delete_by_organization(self, *, organization_id: str, session: ClientSession | None = None) -> int:
        result = self._collection.delete_many({"organization_id": to_object_id(organization_id)}, session=session)
        return result.deleted_count
