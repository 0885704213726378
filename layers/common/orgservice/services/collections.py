"""CollectionService: where a tenant's collection lives, and its creation, move and removal."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from orgservice.errors import ConflictError
from orgservice.models import TenantLocation
from orgservice.placement import TenantPlacement
from orgservice.repositories.tenant_collections import TenantCollectionExistsError, TenantCollectionRepository

logger = Logger(child=True)


def _storage_taken(location: TenantLocation) -> ConflictError:
    return ConflictError(
        f"Collection '{location.collection_name}' already exists without an organization; "
        "choose another name or ask an operator to remove the leftover collection."
    )


class CollectionService:
    """Applies the tenant placement and keeps collection operations from touching another tenant's data."""

    def __init__(self, *, placement: TenantPlacement, repository: TenantCollectionRepository) -> None:
        self._placement = placement
        self._repository = repository

    def locate(self, slug: str) -> TenantLocation:
        return self._placement.locate(slug)

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

    def move(self, source: TenantLocation, target: TenantLocation) -> None:
        """Move the tenant collection; a missing source is created empty at the target."""
        if source == target:
            return

        if not self._repository.exists(location=source):
            # NOTE: a request killed between its metadata write and its collection step leaves an
            # organization without a collection. Creating an empty one restores the invariant.
            logger.warning("Tenant collection missing before a move", extra={"namespace": source.namespace})
            self._repository.create(location=target)
            return

        try:
            self._repository.rename(source=source, target=target)
        except TenantCollectionExistsError:
            logger.error("Tenant collection already exists", extra={"namespace": target.namespace})
            raise _storage_taken(target) from None
        logger.info("Renamed tenant collection", extra={"source": source.namespace, "target": target.namespace})

    def finish_interrupted_move(self, source: TenantLocation, target: TenantLocation) -> None:
        """Complete a move that a dead request left half done, without overwriting any collection."""
        source_exists = self._repository.exists(location=source)
        target_exists = self._repository.exists(location=target)

        if source_exists and target_exists:
            logger.error(
                "Both collections of an interrupted move exist",
                extra={"source": source.namespace, "target": target.namespace},
            )
            raise ConflictError(
                f"Both '{source.collection_name}' and '{target.collection_name}' exist after an interrupted rename; "
                "ask an operator to merge them."
            )

        if source_exists:
            self._repository.rename(source=source, target=target)
        elif not target_exists:
            self._repository.create(location=target)
        logger.info("Finished an interrupted move", extra={"source": source.namespace, "target": target.namespace})

    def drop(self, location: TenantLocation) -> None:
        self._repository.drop(location=location)
        logger.info("Dropped tenant collection", extra={"namespace": location.namespace})
