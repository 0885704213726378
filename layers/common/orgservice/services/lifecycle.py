"""TenantLifecycle: the marks of unfinished creates, renames and deletes, and how each one is finished.

Every change marks the organization document (`creating_since`, `moving_from` or `deleting_since`,
with `pending_since`) in the same write as its first effect, and clears the mark in its last write.
A mark younger than PENDING_CHANGE_LEASE belongs to a running request, so other requests get 409.
An older mark belongs to a request that died, because every function times out sooner. The next
request that touches the organization, or the repair function, then claims the mark with a version
check and settles the change: an interrupted create is rolled back, a rename and a delete are finished.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger
from pymongo.client_session import ClientSession

from orgservice.errors import ChangeInProgressError, ChangeStillRunningError, ConflictError
from orgservice.models import Organization, TenantLocation
from orgservice.repositories.admins import AdminRepository
from orgservice.repositories.organizations import OrganizationRepository
from orgservice.repositories.tenant_collections import outcome_unknown
from orgservice.services import checkpoints
from orgservice.services.collections import CollectionService

logger = Logger(child=True)

# Lambda stops a function at its timeout (at most 28 s for requests and 50 s for the repair
# function in template.yaml), so a change whose lease started longer ago than this has died.
PENDING_CHANGE_LEASE = timedelta(seconds=60)

# A request that fails sets its lease start this far back, so the next request finds the mark expired.
_RELEASED = datetime(2000, 1, 1, tzinfo=UTC)

# Runs a unit of work in one transaction where the server supports it; see core.db.run_in_transaction.
TransactionRunner = Callable[[Callable[[ClientSession | None], Any]], Any]


def now() -> datetime:
    """Return the current UTC time in whole milliseconds, as MongoDB stores it."""
    current = datetime.now(UTC)
    return current.replace(microsecond=current.microsecond // 1000 * 1000)


def lease_remaining_seconds(organization: Organization) -> int:
    """Return the whole seconds, at least 1, until the lease of the organization's change expires."""
    if organization.pending_since is None:
        return 1
    remaining = PENDING_CHANGE_LEASE - (now() - organization.pending_since)
    return max(1, math.ceil(remaining.total_seconds()))


def still_running(organization: Organization, action: str) -> ChangeStillRunningError:
    """Build the error for a collection operation that timed out and may still finish on the server."""
    seconds = lease_remaining_seconds(organization)
    return ChangeStillRunningError(
        f"The {action} of organization '{organization.organization_name}' did not finish in time and may "
        f"still be running on the database; check again in {seconds} seconds, when the service finishes "
        "it from the state the database reports.",
        retry_after=seconds,
    )


def changed_by_another_request(organization: Organization) -> ConflictError:
    return ConflictError(
        f"Organization '{organization.organization_name}' was changed by another request; fetch it again and retry."
    )


@dataclass(slots=True)
class RepairReport:
    """Counts of one repair run, with the tenant collections that need an operator's attention.

    `orphan_collections` are used by no organization and named by no move mark. The collections in
    `unfinished_move_collections` are named by a move mark still set after this run. Its rename is
    running or could not be settled, so one of them may be a tenant's only copy of its data.
    """

    examined: int = 0
    rolled_back_creates: int = 0
    finished_renames: int = 0
    finished_deletes: int = 0
    failed: int = 0
    orphan_collections: list[str] = field(default_factory=list)
    unfinished_move_collections: list[str] = field(default_factory=list)


class TenantLifecycle:
    """Settles unfinished changes of organizations, for requests and for the repair function."""

    def __init__(
        self,
        *,
        organizations: OrganizationRepository,
        admins: AdminRepository,
        collections: CollectionService,
        run_in_transaction: TransactionRunner,
        master_database_name: str,
    ) -> None:
        self._organizations = organizations
        self._admins = admins
        self._collections = collections
        self._run_in_transaction = run_in_transaction
        self._master_database_name = master_database_name

    @staticmethod
    def is_expired(organization: Organization) -> bool:
        return organization.pending_since is not None and now() - organization.pending_since >= PENDING_CHANGE_LEASE

    def settle(self, organization: Organization) -> Organization | None:
        """Return the organization with no change in progress, or None when settling removed it.

        Raises ConflictError while another request's change runs or when another request claims it first.
        """
        if organization.pending_operation is None:
            return organization

        if not self.is_expired(organization):
            logger.info(
                "Request rejected: change in progress",
                extra={"organization_id": organization.id, "operation": organization.pending_operation},
            )
            participle = {"create": "created", "rename": "renamed", "delete": "deleted"}[organization.pending_operation]
            seconds = lease_remaining_seconds(organization)
            raise ChangeInProgressError(
                f"Organization '{organization.organization_name}' is being {participle} by another request; "
                f"retry in {seconds} seconds, when that request has finished or its lease has expired.",
                retry_after=seconds,
            )

        claimed = self._organizations.claim(
            organization_id=organization.id, expected_version=organization.version, now=now()
        )
        if claimed is None:
            logger.info("Another request claimed the interrupted change", extra={"organization_id": organization.id})
            raise changed_by_another_request(organization)
        return self.finish_claimed(claimed)

    def finish_claimed(self, organization: Organization) -> Organization | None:
        """Roll back an interrupted create, or finish an interrupted rename or delete, after claiming its lease."""
        operation = organization.pending_operation
        logger.warning(
            "Settling an interrupted change", extra={"organization_id": organization.id, "operation": operation}
        )

        try:
            return self._finish_claimed(organization)
        except Exception as error:
            if not outcome_unknown(error):
                raise
            # The claim restarted the lease, so the mark waits for the server to finish the operation.
            logger.exception(
                "Settling timed out; keeping the mark",
                extra={"organization_id": organization.id, "operation": operation},
            )
            raise still_running(organization, operation or "change") from error

    def _finish_claimed(self, organization: Organization) -> Organization | None:
        operation = organization.pending_operation
        if operation == "delete":
            self.remove_all(organization)
            return None
        if operation == "create":
            self.roll_back_create(organization, drop_collection=None)
            return None
        if organization.moving_from is not None:
            # Once the move has left the earlier location, a new organization may create a collection there.
            owner = self._organizations.find_by_location(location=organization.moving_from)
            self._collections.finish_interrupted_move(
                organization.moving_from,
                organization.location,
                organization_name=organization.organization_name,
                source_owner=owner if owner is not None and owner.id != organization.id else None,
            )
        return self.finish_move(organization)

    def roll_back_create(self, organization: Organization, *, drop_collection: bool | None) -> None:
        """Remove what a create stored, so its name and email are free again.

        `drop_collection` True drops the collection that the create made; None drops it only when it is
        empty, because a collection that contains documents may not be the create's own.
        """
        location = organization.location
        if drop_collection is None and self._collections.exists(location):
            drop_collection = self._collections.is_empty(location)
            if not drop_collection:
                logger.error(
                    "Kept a non-empty collection while rolling back a create",
                    extra={"organization_id": organization.id, "namespace": location.namespace},
                )
        if drop_collection:
            self._collections.drop(location)
            checkpoints.reached("create.rollback_collection_dropped")

        self.remove_records(organization)
        logger.info("Rolled back the create", extra={"organization_id": organization.id})

    def finish_move(self, organization: Organization) -> Organization:
        finished = self._organizations.finish_move(
            organization_id=organization.id, expected_version=organization.version
        )
        if finished is None:
            # Only a request that took longer than the lease lets another request take over its move.
            logger.warning("The move mark was changed by another request", extra={"organization_id": organization.id})
            raise changed_by_another_request(organization)
        return finished

    def remove_all(self, organization: Organization) -> None:
        """Drop the tenant collection, then the admins and the organization.

        The collection goes first: an interruption leaves the marked organization, which a retry
        finishes, and never tenant data without an organization that owns it.
        """
        self._collections.drop(organization.location)
        checkpoints.reached("delete.collection_dropped")
        self.remove_records(organization)

    def remove_records(self, organization: Organization) -> None:
        """Delete the admins and then the organization at its current version, in one transaction where supported."""

        def remove(session: ClientSession | None) -> None:
            self._admins.delete_by_organization(organization_id=organization.id, session=session)
            if session is None:
                checkpoints.reached("delete.admins_removed")
            deleted = self._organizations.delete(
                organization_id=organization.id, expected_version=organization.version, session=session
            )
            if not deleted:
                raise changed_by_another_request(organization)

        self._run_in_transaction(remove)

    def release(self, organization: Organization) -> None:
        """Expire the lease of a change that this request gives up on, so the next request settles it at once."""
        try:
            self._organizations.release(
                organization_id=organization.id, expected_version=organization.version, expired_at=_RELEASED
            )
        except Exception:
            # The lease then expires on its own after PENDING_CHANGE_LEASE.
            logger.exception("Releasing the change failed", extra={"organization_id": organization.id})

    def repair_expired(self) -> RepairReport:
        """Settle every change whose lease has expired, and list tenant collections that no organization uses."""
        report = RepairReport()
        # NOTE: one settle may spend up to 20 s on a rename or a drop, so several slow tenants can reach
        # the function's 50 s Timeout. The marks that the run did not reach wait for the next run.
        for organization in self._organizations.find_pending(started_before=now() - PENDING_CHANGE_LEASE):
            report.examined += 1
            operation = organization.pending_operation
            try:
                settled = self.settle(organization)
            except Exception:
                report.failed += 1
                logger.exception(
                    "Repairing an interrupted change failed",
                    extra={"organization_id": organization.id, "operation": operation},
                )
                continue

            if operation == "create":
                report.rolled_back_creates += 1
            elif operation == "delete":
                report.finished_deletes += 1
            elif settled is not None:
                report.finished_renames += 1

        report.orphan_collections = [location.namespace for location in self.find_orphan_collections()]
        report.unfinished_move_collections = self.find_unfinished_move_collections()
        if report.unfinished_move_collections:
            logger.error(
                "Renames still unfinished after the repair",
                extra={"namespaces": report.unfinished_move_collections},
            )
        if report.orphan_collections:
            # Kept for an operator: a collection without an organization may hold data from elsewhere.
            logger.warning(
                "Tenant collections without an organization", extra={"namespaces": report.orphan_collections}
            )
        logger.info("Repair finished", extra=asdict(report))
        return report

    def find_unfinished_move_collections(self) -> list[str]:
        """Return the namespaces, source then target, of every move mark that is still set."""
        namespaces: list[str] = []
        for organization in self._organizations.find_pending(started_before=now() + PENDING_CHANGE_LEASE):
            if organization.moving_from is not None:
                namespaces.extend([organization.moving_from.namespace, organization.location.namespace])
        return namespaces

    def find_orphan_collections(self) -> list[TenantLocation]:
        """Return the tenant collections that no organization uses or is moving away from."""
        in_use = set(self._organizations.list_locations())
        databases = {location.database_name for location in in_use} | {self._master_database_name}
        return [location for location in self._collections.list_tenant_collections(databases) if location not in in_use]
