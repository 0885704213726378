"""The lifecycle operations under test, each run through its Lambda handler, and the invariants they keep.

Both the test process and the child process that gets killed import this module, so a scenario runs
the same code in either.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import MongoClient
from pymongo.database import Database

from local_api.lambda_events import ROOT, LambdaContext, load_handler
from tests.integration.faults.tally import TALLY
from tests.integration.functions.invoke import (
    ApiResponse,
    Tenant,
    create_organization,
    delete_organization,
    register,
    update_organization,
)
from tests.integration.functions.tenant_data import documents, indexes, seed_tenant_data

NAME = "Acme Corp"
EMAIL = "admin@acme.example.com"
NEW_NAME = "Acme Industries"
# Documents per batch of a copying move in these tests, so the six seeded documents take three batches.
COPY_BATCH_SIZE = 2
LEASE_EXPIRED = datetime(2000, 1, 1, tzinfo=UTC)
SUCCESS = {"create": 201, "rename": 200, "delete": 200}
CHILD_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Scenario:
    """One operation to interrupt: `operation` is create, rename or delete; `copy` moves across databases."""

    operation: str
    copy: bool = False

    @property
    def id(self) -> str:
        return f"{self.operation}-copy" if self.copy else self.operation


SCENARIOS = [Scenario("create"), Scenario("rename"), Scenario("rename", copy=True), Scenario("delete")]


def tenant_database_name(master_database_name: str) -> str:
    """Database that a copying rename moves tenant collections to, configured apart from the master database."""
    return f"{master_database_name}_tenants"


def place_tenants_apart(master_database_name: str) -> None:
    """Make the functions place tenant collections in their own database, with small copy batches."""
    from orgservice import wiring
    from orgservice.placement import CollectionPerTenantPlacement
    from orgservice.services import collections

    tenant_database = tenant_database_name(master_database_name)

    def place(_master_database_name: str) -> CollectionPerTenantPlacement:
        return CollectionPerTenantPlacement(tenant_database)

    wiring.CollectionPerTenantPlacement = place  # type: ignore[assignment,misc]
    collections.COPY_BATCH_SIZE = COPY_BATCH_SIZE


def prepare(scenario: Scenario, database: Database) -> Tenant | None:
    """Create the organization that a rename or delete acts on, with documents and indexes in its collection."""
    if scenario.operation == "create":
        return None
    tenant = register(NAME, EMAIL)
    seed_tenant_data(database, tenant.collection_name)
    return tenant


def run(scenario: Scenario, tenant: Tenant | None) -> ApiResponse:
    """Send the scenario's request to its handler."""
    if scenario.operation == "create":
        return create_organization(NAME, EMAIL)
    assert tenant is not None
    if scenario.operation == "rename":
        return update_organization(tenant.context, {"organization_name": NEW_NAME})
    return delete_organization(tenant.context)


def run_next_request(scenario: Scenario, tenant: Tenant | None) -> ApiResponse:
    """Send the request a client sends after a failure: the same create or delete again, or another update."""
    if scenario.operation == "create":
        return create_organization(NAME, EMAIL)
    assert tenant is not None
    if scenario.operation == "rename":
        return update_organization(tenant.context, {"password": "another-horse-42"})
    return delete_organization(tenant.context)


def run_repair() -> dict[str, Any]:
    """Run the repair function once, as its schedule does."""
    handler = load_handler("functions/repair_tenants")
    return handler({"source": "aws.events", "detail-type": "Scheduled Event"}, LambdaContext(function_name="repair"))


def expire_leases(database: Database) -> None:
    """Move every lease start far back, as the time after a killed request has passed its lease."""
    database.organizations.update_many({"pending_since": {"$exists": True}}, {"$set": {"pending_since": LEASE_EXPIRED}})


def tenant_data(database: Database, collection_name: str) -> dict[str, Any]:
    """Documents and indexes of a tenant collection, for comparing before and after."""
    return {"documents": documents(database, collection_name), "indexes": indexes(database, collection_name)}


def find_violations(client: MongoClient, master: Database, expected_data: dict[str, Any] | None) -> list[str]:
    """List every broken invariant of the stored organizations, admins and tenant collections.

    `expected_data` is what the tenant collection of the one organization under test held before.
    """
    violations: list[str] = []
    databases = [master, client[tenant_database_name(master.name)]]
    organizations = list(master.organizations.find())
    admins = list(master.admins.find())
    used = {(organization["database_name"], organization["collection_name"]) for organization in organizations}

    for organization in organizations:
        name = organization["organization_name"]
        for mark in ("creating_since", "moving_from", "deleting_since", "pending_since"):
            if mark in organization:
                violations.append(f"organization {name!r} still carries {mark}")

        database = client[organization["database_name"]]
        collection_name = organization["collection_name"]
        if collection_name not in database.list_collection_names():
            violations.append(f"organization {name!r} points at missing collection {database.name}.{collection_name}")
        elif expected_data is not None and tenant_data(database, collection_name) != expected_data:
            violations.append(f"collection {collection_name} of {name!r} lost documents, _ids or indexes")

        if not any(admin["organization_id"] == organization["_id"] for admin in admins):
            violations.append(f"organization {name!r} has no admin")

    organization_ids = {organization["_id"] for organization in organizations}
    for admin in admins:
        if admin["organization_id"] not in organization_ids:
            violations.append(f"admin {admin['email']} belongs to no organization")

    for database in databases:
        for collection_name in database.list_collection_names():
            if collection_name.startswith("org_") and (database.name, collection_name) not in used:
                violations.append(f"collection {database.name}.{collection_name} belongs to no organization")
    return violations


def encode_tenant(tenant: Tenant | None) -> str:
    return json.dumps(asdict(tenant) if tenant else None)


def decode_tenant(text: str) -> Tenant | None:
    values = json.loads(text)
    return Tenant(**values) if values else None




class InjectedFault(Exception):
    """The error that the exception-mode hook raises at a step boundary."""


def kill_child_at(scenario: Scenario, step: str, tenant: Tenant | None) -> None:
    """Run the scenario's request in a child process that SIGKILLs itself at `step`."""
    completed = subprocess.run(
        [sys.executable, "-m", "tests.integration.faults.child", scenario.id, step, encode_tenant(tenant)],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_SECONDS,
    )
    assert completed.returncode == -signal.SIGKILL, completed.stderr[-2000:]


def check_outcome(
    case: str, scenario: Scenario, mongo_client: MongoClient, master_db: Database, expected: dict | None
) -> None:
    """Assert the invariants, then that the end state is the one the scenario allows, and count the fault."""
    violations = find_violations(mongo_client, master_db, expected)

    if scenario.operation == "create" and not violations:
        # The name and email are free again, or the create went through before the fault.
        if master_db.organizations.count_documents({}) == 0:
            retry = create_organization(NAME, EMAIL)
            if retry.status != 201:
                violations.append(f"create after the fault returned {retry.status}: {retry.body}")
        violations.extend(find_violations(mongo_client, master_db, None))
    if scenario.operation == "rename" and master_db.organizations.count_documents({}) != 1:
        violations.append("the renamed organization is gone")
    if scenario.operation == "delete" and master_db.organizations.count_documents({}) != 0:
        violations.append("the deleted organization is still stored")

    TALLY.record(case, violations)
    assert violations == []
