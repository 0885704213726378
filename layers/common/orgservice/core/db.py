"""The container's one MongoClient, the master database and its indexes, and transactions.

A Lambda container serves one request at a time, so the pool stays small: a thousand warm
containers then hold at most a few thousand connections to the cluster.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from aws_lambda_powertools import Logger
from pymongo import ASCENDING, MongoClient
from pymongo.client_session import ClientSession
from pymongo.database import Database
from pymongo.errors import PyMongoError

from orgservice.core.config import Settings, get_settings, resolve_mongodb_uri
from orgservice.errors import ConflictError

ORGANIZATIONS = "organizations"
ADMINS = "admins"

TRANSACTION_ATTEMPTS = 3
TRANSACTION_BACKOFF_SECONDS = 0.05

logger = Logger(child=True)

_client: MongoClient | None = None
# Guards the first build of the client. Lambda runs one request per container at a time, but the local
# runner and the tests call handlers from several threads. Two clients would then each own sessions that
# the other rejects ("Can only use session with the MongoClient that started it").
_client_lock = threading.Lock()
_indexed_databases: set[str] = set()
_transactions_supported: bool | None = None


def get_client() -> MongoClient:
    """Return the container's MongoClient, building it on first use."""
    global _client
    if _client is not None:
        return _client

    with _client_lock:
        if _client is None:
            _client = _build_client()
    return _client


def _build_client() -> MongoClient:
    settings = get_settings()
    client = MongoClient(
        resolve_mongodb_uri(settings),
        appname="org-management-service",
        maxPoolSize=settings.mongodb_max_pool_size,
        minPoolSize=0,
        serverSelectionTimeoutMS=settings.mongodb_timeout_ms,
        connectTimeoutMS=settings.mongodb_timeout_ms,
        # Client-side operation timeout (CSOT): it bounds server selection too, so an unreachable
        # or slow server fails the operation, which the API returns as 503, well within the
        # function's own timeout.
        timeoutMS=settings.mongodb_timeout_ms,
        retryWrites=True,
        tz_aware=True,
    )
    logger.info("Built the MongoDB client", extra={"max_pool_size": settings.mongodb_max_pool_size})
    return client


def get_database(settings: Settings | None = None) -> Database:
    """Return the master database, creating its indexes once per container."""
    settings = settings or get_settings()
    database = get_client()[settings.mongodb_database]
    if database.name not in _indexed_databases:
        ensure_indexes(database)
        _indexed_databases.add(database.name)
    return database


def ensure_indexes(database: Database) -> None:
    """Create the unique indexes that enforce one organization per slug and one admin per email."""
    database[ORGANIZATIONS].create_index([("slug", ASCENDING)], unique=True, name="slug_unique")
    database[ADMINS].create_index([("email", ASCENDING)], unique=True, name="email_unique")
    database[ADMINS].create_index([("organization_id", ASCENDING)], name="organization_id")


def transactions_supported() -> bool:
    """Tell whether the server accepts multi-document transactions (replica sets and sharded clusters do)."""
    global _transactions_supported
    if _transactions_supported is None:
        hello = get_client().admin.command("hello")
        _transactions_supported = bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"
        logger.info("Checked transaction support", extra={"transactions_supported": _transactions_supported})
    return _transactions_supported


def run_in_transaction[T](work: Callable[[ClientSession | None], T]) -> T:
    """Run `work` in one multi-document transaction where the server supports it, else without a session.

    Callers that pass the session to every write get all-or-nothing on replica sets. On a standalone
    server `work` gets None and writes one document at a time, and the caller undoes earlier writes
    on failure. A transient error, such as a write conflict with a concurrent request, reruns the
    whole transaction a few times before it becomes a ConflictError.
    """
    if not transactions_supported():
        return work(None)

    for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
        with get_client().start_session() as session:
            try:
                with session.start_transaction():
                    return work(session)
            except PyMongoError as error:
                if not error.has_error_label("TransientTransactionError"):
                    raise
                logger.warning(
                    "Transaction hit a transient error; retrying",
                    extra={"attempt": attempt, "error": type(error).__name__, "code": getattr(error, "code", None)},
                )
        time.sleep(TRANSACTION_BACKOFF_SECONDS * attempt)

    raise ConflictError("The organization was changed by a concurrent request; retry the request.")


def reset() -> None:
    """Close the client and forget cached state, so the next call reconnects with the current settings."""
    global _client, _transactions_supported
    if _client is not None:
        _client.close()
    _client = None
    _transactions_supported = None
    _indexed_databases.clear()
