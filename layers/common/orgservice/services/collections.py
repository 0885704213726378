"""CollectionService: where a tenant's collection lives, and its creation, move and removal."""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools import Logger

from orgservice.errors import ChangeInProgressError, ConflictError
from orgservice.models import Organization, TenantLocation
from orgservice.placement import TENANT_COLLECTION_PREFIX, TenantPlacement
from orgservice.repositories.tenant_collections import TenantCollectionExistsError, TenantCollectionRepository
from orgservice.services import checkpoints

logger = Logger(child=True)

# Seconds after which a move that cannot be settled yet is worth checking again; the lease of its mark.
MOVE_RECHECK_SECONDS = 60

# Documents per batch of a copying move. The function keeps one batch in memory at a time.
COPY_BATCH_SIZE = 1000


class CollectionTakenError(ConflictError):
    """A collection already exists at the location, so nothing is created or moved onto it."""


def _storage_taken(location: TenantLocation) -> CollectionTakenError:
    # The collection may be the only copy of some tenant's data, so the message never suggests dropping it.
    return CollectionTakenError(
        f"Collection '{location.collection_name}' already exists and no organization uses it; choose another "
        "name. The repair function lists it under orphan_collections for an operator to inspect."
    )


class CollectionsMissingError(Exception):
    """Neither the source nor the target collection of a move exists."""


def move_unsettled(
    organization_name: str, source: TenantLocation, target: TenantLocation, state: str
) -> ChangeInProgressError:
    seconds = int(MOVE_RECHECK_SECONDS)
    return ChangeInProgressError(
        f"The rename of organization '{organization_name}' from '{source.collection_name}' to "
        f"'{target.collection_name}' cannot finish because {state}; the database may still be running it. "
        f"Retry in {seconds} seconds. If this persists, an operator must inspect both collections before "
        "dropping either; the service drops neither.",
        retry_after=seconds,
    )


@dataclass(frozen=True, slots=True)
class MoveState:
    """Existence of the source and the target collection of a move."""

    source_exists: bool
    target_exists: bool

    @property
    def not_started(self) -> bool:
        return self.source_exists and not self.target_exists

    @property
    def finished(self) -> bool:
        return self.target_exists and not self.source_exists

    def describe(self) -> str:
        if self.source_exists and self.target_exists:
            return "both collections exist"
        if not (self.source_exists or self.target_exists):
            return "neither collection exists"
        return "only the earlier collection exists" if self.source_exists else "only the new collection exists"


def _pair(source: TenantLocation, target: TenantLocation) -> dict[str, str]:
    return {"source": source.namespace, "target": target.namespace}


def moves_by_copy(source: TenantLocation, target: TenantLocation) -> bool:
    """Tell whether a move between the two locations copies documents rather than renaming.

    renameCollection is atomic and metadata-only within one database. Across databases mongod copies
    without atomicity and sharded clusters reject it, so the service copies in batches itself.
    """
    return source.database_name != target.database_name


class CollectionService:
    """Applies the tenant placement and keeps collection operations from touching another tenant's data."""

    def __init__(
        self,
        *,
        placement: TenantPlacement,
        repository: TenantCollectionRepository,
        copy_batch_size: int | None = None,
    ) -> None:
        self._placement = placement
        self._repository = repository
        self._copy_batch_size = copy_batch_size or COPY_BATCH_SIZE

    def locate(self, slug: str) -> TenantLocation:
        return self._placement.locate(slug)

    def exists(self, location: TenantLocation) -> bool:
        return self._repository.exists(location=location)

    def is_empty(self, location: TenantLocation) -> bool:
        return self._repository.count(location=location) == 0

    def create(self, location: TenantLocation) -> None:
        """Create the tenant collection, rejecting one that already exists rather than adopting its data."""
        try:
            self._repository.create(location=location)
        except TenantCollectionExistsError:
            logger.error("Tenant collection already exists", extra={"namespace": location.namespace})
            raise _storage_taken(location) from None
        logger.info("Created tenant collection", extra={"namespace": location.namespace})

    def ensure_free(self, location: TenantLocation) -> None:
        """Raise ConflictError when a collection already exists at the location, so nothing moves onto it."""
        if self._repository.exists(location=location):
            logger.error("Tenant collection already exists", extra={"namespace": location.namespace})
            raise _storage_taken(location)

    def inspect_move(self, source: TenantLocation, target: TenantLocation) -> MoveState:
        return MoveState(
            source_exists=self._repository.exists(location=source),
            target_exists=self._repository.exists(location=target),
        )

    def move(self, source: TenantLocation, target: TenantLocation) -> None:
        """Move the tenant collection; a move that an earlier attempt already completed is left as it is.

        Raises CollectionsMissingError when neither collection exists, because an empty collection
        created here would hide the loss of the tenant's data.
        """
        if source == target:
            return

        if not self._repository.exists(location=source):
            if self._repository.exists(location=target):
                logger.warning("Tenant collection already moved", extra=_pair(source, target))
                return
            logger.error("Both collections of a move are missing", extra=_pair(source, target))
            raise CollectionsMissingError(f"Neither {source.namespace} nor {target.namespace} exists.")

        if moves_by_copy(source, target):
            self._copy(source, target)
            return

        try:
            self._repository.rename(source=source, target=target)
        except TenantCollectionExistsError:
            logger.error("Tenant collection already exists", extra={"namespace": target.namespace})
            raise _storage_taken(target) from None
        logger.info(
            "Moved tenant collection",
            extra={"source": source.namespace, "target": target.namespace, "method": "renameCollection"},
        )

    def _copy(self, source: TenantLocation, target: TenantLocation, *, resume: bool = False) -> None:
        """Copy documents with their `_id`s and the indexes to the target in batches, then drop the source.

        With `resume`, an existing target is taken as the partial copy of an earlier run and completed.
        """
        logger.info(
            "Moving tenant collection by copy",
            extra={"source": source.namespace, "target": target.namespace, "resume": resume},
        )
        try:
            self._repository.create(location=target, options=self._repository.options(location=source))
        except TenantCollectionExistsError:
            if not resume:
                logger.error("Tenant collection already exists", extra={"namespace": target.namespace})
                raise _storage_taken(target) from None

        index_names = self._repository.copy_indexes(source=source, target=target)
        checkpoints.reached("rename.indexes_copied")

        # NOTE: a resumed copy reads the source from its start again and skips the `_id`s already copied,
        # so a tenant whose scan alone outlasts the function's timeout never finishes moving.
        copied = 0
        for batch in self._repository.batches(location=source, batch_size=self._copy_batch_size):
            copied += self._repository.insert_missing(location=target, documents=batch)
            checkpoints.reached("rename.batch_copied")

        source_count = self._repository.count(location=source)
        target_count = self._repository.count(location=target)
        if target_count != source_count:
            # NOTE: tenant writes to either collection during the copy change the counts. The source
            # stays in place, so a failed rename is rolled back and an interrupted one is retried.
            raise RuntimeError(
                f"Copying {source.namespace} to {target.namespace} failed: the copy contains {target_count} "
                f"of {source_count} documents. Retry the rename."
            )
        checkpoints.reached("rename.documents_copied")

        self._repository.drop(location=source)
        logger.info(
            "Moved tenant collection",
            extra={
                "source": source.namespace,
                "target": target.namespace,
                "method": "copy",
                "inserted": copied,
                "documents": target_count,
                "indexes": index_names,
            },
        )

    def undo_copy(self, source: TenantLocation, target: TenantLocation) -> None:
        """Drop the partial copy at the target of a failed copying move, while the source is still complete."""
        if not moves_by_copy(source, target) or not self._repository.exists(location=source):
            return
        self._repository.drop(location=target)
        logger.info("Dropped a partial copy", extra={"source": source.namespace, "target": target.namespace})

    def finish_interrupted_move(
        self,
        source: TenantLocation,
        target: TenantLocation,
        *,
        organization_name: str,
        source_owner: Organization | None,
    ) -> None:
        """Complete a move that an earlier request left unfinished, without overwriting or inventing a collection.

        `source_owner` is another organization that now uses the source location. Once the move has
        left the source, a new organization may create its own collection there. A move is never
        rolled back here: a renameCollection that timed out on the client may still be running on the
        server, so a state that only it can explain raises ChangeInProgressError and keeps the mark.
        """
        state = self.inspect_move(source, target)

        if state.source_exists and state.target_exists:
            if source_owner is not None and source_owner.pending_operation != "create":
                # The owner's collection exists and its create finished, so this move had finished before.
                logger.info(
                    "Source of an interrupted move belongs to another organization", extra=_pair(source, target)
                )
                return
            if source_owner is not None:
                raise ChangeInProgressError(
                    f"Organization '{source_owner.organization_name}' is being created at '{source.collection_name}'; "
                    f"retry in {MOVE_RECHECK_SECONDS} seconds.",
                    retry_after=MOVE_RECHECK_SECONDS,
                )
            if not moves_by_copy(source, target):
                logger.error("Both collections of an interrupted move exist", extra=_pair(source, target))
                raise move_unsettled(organization_name, source, target, "both collections exist")

        if state.source_exists and moves_by_copy(source, target):
            self._copy(source, target, resume=True)
        elif state.source_exists:
            self._repository.rename(source=source, target=target)
        elif not state.target_exists:
            logger.error("Both collections of an interrupted move are missing", extra=_pair(source, target))
            raise move_unsettled(organization_name, source, target, "neither collection exists")
        logger.info("Finished an interrupted move", extra=_pair(source, target))

    def drop(self, location: TenantLocation) -> None:
        self._repository.drop(location=location)
        logger.info("Dropped tenant collection", extra={"namespace": location.namespace})

    def list_tenant_collections(self, database_names: set[str]) -> list[TenantLocation]:
        """Return every collection named like a tenant collection in the given databases."""
        found: list[TenantLocation] = []
        for database_name in sorted(database_names):
            found.extend(
                self._repository.list_tenant_collections(database_name=database_name, prefix=TENANT_COLLECTION_PREFIX)
            )
        return found
