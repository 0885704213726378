"""Every operation on tenant collections: create, rename and drop."""

from __future__ import annotations

import pymongo
from pymongo import MongoClient
from pymongo.errors import CollectionInvalid, OperationFailure

from orgservice.models import TenantLocation

# Server error code for "target namespace exists" (mongod's NamespaceExists).
NAMESPACE_EXISTS = 48

# Time limit of one renameCollection, above the per-operation MONGODB_TIMEOUT_MS. On mongod a rename
# within one database only changes metadata, but servers that copy the data (SecantusDB does) need
# time in proportion to the tenant's size. It stays below the update function's Timeout in template.yaml.
RENAME_TIMEOUT_SECONDS = 20


class TenantCollectionExistsError(Exception):
    """The target collection already exists, so it is neither created nor overwritten."""


class TenantCollectionRepository:
    """Creates, moves and drops the collections that hold tenant data."""

    def __init__(self, client: MongoClient) -> None:
        self._client = client

    def create(self, *, location: TenantLocation) -> None:
        try:
            self._client[location.database_name].create_collection(location.collection_name)
        except CollectionInvalid as error:
            raise TenantCollectionExistsError(location.namespace) from error
        except OperationFailure as error:
            if error.code == NAMESPACE_EXISTS:
                raise TenantCollectionExistsError(location.namespace) from error
            raise

    def exists(self, *, location: TenantLocation) -> bool:
        names = self._client[location.database_name].list_collection_names(filter={"name": location.collection_name})
        return location.collection_name in names

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

    def drop(self, *, location: TenantLocation) -> None:
        """Drop the collection; dropping one that does not exist is not an error."""
        self._client[location.database_name].drop_collection(location.collection_name)
