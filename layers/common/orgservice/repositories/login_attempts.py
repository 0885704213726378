"""Every read and write of the master `login_attempts` collection: failed logins counted per key.

A key is "email:<address>" or "ip:<address>". Each counter lives for one fixed window that starts
with its first failure. A TTL index on `expires_at` lets MongoDB delete it afterwards. The TTL
monitor runs about once a minute, so every read also ignores counters whose window has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo import ASCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

LOGIN_ATTEMPTS = "login_attempts"

# Databases whose TTL index this container has created, so it is created once per container.
_indexed_databases: set[str] = set()


@dataclass(frozen=True, slots=True)
class FailureCount:
    """Failed logins of one key in the current window, and when the window ends."""

    key: str
    failures: int
    expires_at: datetime


def ensure_login_attempt_indexes(database: Database) -> None:
    """Create the TTL index that removes counters once their window has passed."""
    database[LOGIN_ATTEMPTS].create_index([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_at_ttl")


class LoginAttemptRepository:
    """Counts failed logins per key; the service decides what the counts mean."""

    def __init__(self, database: Database) -> None:
        self._collection = database[LOGIN_ATTEMPTS]
        if database.name not in _indexed_databases:
            ensure_login_attempt_indexes(database)
            _indexed_databases.add(database.name)

    def current(self, *, keys: list[str], now: datetime) -> list[FailureCount]:
        """Return the counters of `keys` whose window has not passed yet."""
        documents = self._collection.find({"_id": {"$in": keys}, "expires_at": {"$gt": now}})
        return [
            FailureCount(key=document["_id"], failures=document["failures"], expires_at=document["expires_at"])
            for document in documents
        ]

    def record_failure(self, *, key: str, now: datetime, window: timedelta) -> FailureCount:
        """Add one failure to the key's counter, starting a new window when the last one has passed."""
        # A counter whose window has passed but that the TTL monitor has not removed yet starts over.
        self._collection.delete_one({"_id": key, "expires_at": {"$lte": now}})
        try:
            document = self._collection.find_one_and_update(
                {"_id": key},
                {"$inc": {"failures": 1}, "$setOnInsert": {"expires_at": now + window}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            # Two concurrent upserts of a new key: one inserted it, so this one increments it.
            document = self._collection.find_one_and_update(
                {"_id": key}, {"$inc": {"failures": 1}}, return_document=ReturnDocument.AFTER
            )
        return FailureCount(key=key, failures=document["failures"], expires_at=document["expires_at"])

    def reset(self, *, key: str) -> None:
        """Delete the key's counter."""
        self._collection.delete_one({"_id": key})
