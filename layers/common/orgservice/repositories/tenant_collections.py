"""Every operation on tenant collections: create, rename, copy and drop."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pymongo
from pymongo import IndexModel, MongoClient
from pymongo.errors import CollectionInvalid, ConnectionFailure, OperationFailure, PyMongoError

from orgservice.models import TenantLocation

# Server error code for "target namespace exists" (mongod's NamespaceExists).
NAMESPACE_EXISTS = 48

# Time limit of one renameCollection, above the per-operation MONGODB_TIMEOUT_MS. On mongod a rename
# within one database only changes metadata, but servers that copy the data (SecantusDB does) need
# time in proportion to the tenant's size. It stays below the update function's Timeout in template.yaml.
RENAME_TIMEOUT_SECONDS = 20

# Time limit of one drop. Dropping a large collection can outlast MONGODB_TIMEOUT_MS, and on
# timeout the server may still finish the drop. It stays below the delete function's Timeout.
DROP_TIMEOUT_SECONDS = 20

# Index options that listIndexes reports but createIndexes does not accept back.
_INDEX_FIELDS_NOT_COPIED = frozenset({"v", "key", "ns"})


def outcome_unknown(error: BaseException) -> bool:
    """Tell whether the server may have applied, or may still apply, the operation that raised `error`.

    A client-side timeout or a lost connection does not show what the server did, because a renameCollection
    or drop can finish after the client gave up. Only a server error reply (such as OperationFailure
    without a time limit) proves that the operation did not run.
    """
    if not isinstance(error, PyMongoError):
        return False
    return error.timeout or isinstance(error, ConnectionFailure)


class TenantCollectionExistsError(Exception):
    """The target collection already exists, so it is neither created nor overwritten."""


class TenantCollectionRepository:
    """Creates, moves, copies and drops the collections that hold tenant data."""

    def __init__(self, client: MongoClient) -> None:
        self._client = client

    def create(self, *, location: TenantLocation, options: dict[str, Any] | None = None) -> None:
        """Create the collection with the given createCollection options; raise if it exists."""
        try:
            self._client[location.database_name].create_collection(location.collection_name, **(options or {}))
        except CollectionInvalid as error:
            raise TenantCollectionExistsError(location.namespace) from error
        except OperationFailure as error:
            if error.code == NAMESPACE_EXISTS:
                raise TenantCollectionExistsError(location.namespace) from error
            raise

    def exists(self, *, location: TenantLocation) -> bool:
        names = self._client[location.database_name].list_collection_names(filter={"name": location.collection_name})
        return location.collection_name in names

    def options(self, *, location: TenantLocation) -> dict[str, Any]:
        """Return the collection's createCollection options (validator, collation, capped size and so on)."""
        for info in self._client[location.database_name].list_collections(filter={"name": location.collection_name}):
            return dict(info.get("options") or {})
        return {}

    def count(self, *, location: TenantLocation) -> int:
        return self._client[location.database_name][location.collection_name].count_documents({})

    def rename(self, *, source: TenantLocation, target: TenantLocation) -> None:
        """Move a collection with the server's renameCollection, keeping documents, `_id`s and indexes.

        dropTarget stays false, so an existing collection at the target is never replaced.
        """
        try:
            with pymongo.timeout(RENAME_TIMEOUT_SECONDS):
                self._client.admin.command("renameCollection", source.namespace, to=target.namespace, dropTarget=False)
        except OperationFailure as error:
            if error.code == NAMESPACE_EXISTS:
                raise TenantCollectionExistsError(target.namespace) from error
            raise

    def copy_indexes(self, *, source: TenantLocation, target: TenantLocation) -> list[str]:
        """Create every secondary index of the source on the target, with its name and options; return the names."""
        models: list[IndexModel] = []
        for spec in self._client[source.database_name][source.collection_name].list_indexes():
            if spec["name"] == "_id_":
                continue
            options = {name: value for name, value in spec.items() if name not in _INDEX_FIELDS_NOT_COPIED}
            models.append(IndexModel(list(spec["key"].items()), **options))

        if models:
            self._client[target.database_name][target.collection_name].create_indexes(models)
        return [model.document["name"] for model in models]

    def batches(self, *, location: TenantLocation, batch_size: int) -> Iterator[list[dict[str, Any]]]:
        """Yield the collection's documents in `_id` order, at most `batch_size` at a time."""
        collection = self._client[location.database_name][location.collection_name]
        batch: list[dict[str, Any]] = []
        for document in collection.find({}, sort=[("_id", pymongo.ASCENDING)], batch_size=batch_size):
            batch.append(document)
            if len(batch) == batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def insert_missing(self, *, location: TenantLocation, documents: list[dict[str, Any]]) -> int:
        """Insert the documents whose `_id` the collection lacks, keeping their `_id`s; return how many were new.

        Skipping present `_id`s makes a copy that an earlier run left half done safe to run again. Any
        other duplicate key, in a secondary unique index, is an error.
        """
        collection = self._client[location.database_name][location.collection_name]
        ids = [document["_id"] for document in documents]
        present = {document["_id"] for document in collection.find({"_id": {"$in": ids}}, {"_id": 1})}
        missing = [document for document in documents if document["_id"] not in present]
        if not missing:
            return 0
        return len(collection.insert_many(missing, ordered=True).inserted_ids)

    def drop(self, *, location: TenantLocation) -> None:
        """Drop the collection within DROP_TIMEOUT_SECONDS; dropping one that does not exist is not an error."""
        with pymongo.timeout(DROP_TIMEOUT_SECONDS):
            self._client[location.database_name].drop_collection(location.collection_name)

    def list_tenant_collections(self, *, database_name: str, prefix: str) -> list[TenantLocation]:
        """Return the collections of the database whose names start with `prefix`."""
        names = self._client[database_name].list_collection_names(filter={"name": {"$regex": f"^{prefix}"}})
        return [TenantLocation(database_name=database_name, collection_name=name) for name in sorted(names)]
