"""The repair function's handler, run on its scheduled event against the real database."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pymongo.database import Database

from local_api.lambda_events import ROOT, LambdaContext, load_handler
from tests.integration.functions.invoke import Tenant, get_organization, update_organization


def run_repair() -> dict:
    event = json.loads((ROOT / "events" / "repair_tenants.json").read_text(encoding="utf-8"))
    return load_handler("functions/repair_tenants")(event, LambdaContext(function_name="repair_tenants"))


def test_repair_on_clean_database_reports_nothing(acme: Tenant) -> None:
    report = run_repair()

    assert report == {
        "examined": 0,
        "rolled_back_creates": 0,
        "finished_renames": 0,
        "finished_deletes": 0,
        "failed": 0,
        "orphan_collections": [],
        "unfinished_move_collections": [],
    }


def test_repair_finishes_expired_rename(acme: Tenant, master_db: Database) -> None:
    master_db.organizations.update_one(
        {},
        {
            "$set": {
                "organization_name": "Acme Labs",
                "slug": "acme_labs",
                "collection_name": "org_acme_labs",
                "moving_from": {"database_name": master_db.name, "collection_name": "org_acme_corp"},
                "pending_since": datetime(2000, 1, 1, tzinfo=UTC),
            },
            "$inc": {"version": 1},
        },
    )

    report = run_repair()

    assert report["finished_renames"] == 1
    assert "org_acme_labs" in master_db.list_collection_names()
    assert "moving_from" not in master_db.organizations.find_one()
    assert get_organization("Acme Labs").body["collection_name"] == "org_acme_labs"
    assert update_organization(acme.context, {"password": "another-horse-42"}).status == 200


def test_repair_finishes_expired_delete(acme: Tenant, master_db: Database) -> None:
    since = datetime(2000, 1, 1, tzinfo=UTC)
    master_db.organizations.update_one({}, {"$set": {"deleting_since": since, "pending_since": since}})

    report = run_repair()

    assert report["finished_deletes"] == 1
    assert master_db.organizations.count_documents({}) == 0
    assert master_db.admins.count_documents({}) == 0
    assert "org_acme_corp" not in master_db.list_collection_names()
