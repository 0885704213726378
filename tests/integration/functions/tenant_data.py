"""Documents and secondary indexes placed in a tenant collection, to check that they survive a move."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database


def seed_tenant_data(database: Database, collection_name: str) -> None:
    """Insert documents (one with a string `_id`) and two secondary indexes into the collection."""
    collection = database[collection_name]
    collection.insert_many([{"sku": f"item-{number}", "quantity": number, "tags": ["a", "b"]} for number in range(5)])
    collection.insert_one({"_id": "custom-id", "sku": "custom", "nested": {"level": {"deep": True}}})
    collection.create_index([("sku", ASCENDING)], unique=True, name="sku_unique")
    collection.create_index([("quantity", DESCENDING), ("sku", ASCENDING)], name="quantity_sku")


def documents(database: Database, collection_name: str) -> list[dict[str, Any]]:
    """Every document of the collection, in a stable order."""
    return sorted(database[collection_name].find(), key=lambda document: str(document["_id"]))


def indexes(database: Database, collection_name: str) -> dict[str, tuple[list[tuple[str, int]], bool]]:
    """Each index's key and uniqueness, by index name."""
    return {
        name: ([tuple(part) for part in info["key"]], bool(info.get("unique", False)))
        for name, info in database[collection_name].index_information().items()
    }
