"""OrganizationService: create, read, rename and delete organizations with their admin and tenant collection."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from aws_lambda_powertools import Logger
from pymongo.client_session import ClientSession

from orgservice import observability
from orgservice.core.config import Settings
from orgservice.core.security import hash_password
from orgservice.errors import ChangeInProgressError, ConflictError, MigrationFailedError, NotFoundError
from orgservice.models import Admin, Organization, Principal, TenantLocation
from orgservice.naming import slugify
from orgservice.repositories.admins import AdminRepository
from orgservice.repositories.errors import DuplicateValueError
from orgservice.repositories.organizations import OrganizationRepository
from orgservice.repositories.tenant_collections import outcome_unknown
from orgservice.services import checkpoints
from orgservice.services.admins import AdminService
from orgservice.services.collections import CollectionService, CollectionTakenError, move_unsettled
from orgservice.services.lifecycle import (
    TenantLifecycle,
    TransactionRunner,
    changed_by_another_request,
    lease_remaining_seconds,
    still_running,
)
from orgservice.services.lifecycle import now as _now

logger = Logger(child=True)


@dataclass(frozen=True, slots=True)
class OrganizationWithAdmin:
    """An organization together with the admin that a request created or acted as."""

    organization: Organization
    admin: Admin


def _name_taken(name: str, slug: str, holder: Organization | None) -> ConflictError:
    if holder is None or holder.organization_name == name:
        return ConflictError(f"Organization '{name}' already exists; choose another name.")

    # Names that differ only in case, accents or punctuation share one slug, so name the stored one.
    return ConflictError(
        f"Organization '{holder.organization_name}' already exists, and '{name}' folds to the same "
        f"identifier '{slug}'; choose another name."
    )


def _email_taken(email: str) -> ConflictError:
    return ConflictError(f"Admin email '{email}' already exists; use another email.")


class OrganizationService:
    """Keeps organization, admins and tenant collection consistent across every change."""

    def __init__(
        self,
        *,
        organizations: OrganizationRepository,
        admins: AdminRepository,
        collections: CollectionService,
        admin_service: AdminService,
        run_in_transaction: TransactionRunner,
        settings: Settings,
    ) -> None:
        self._organizations = organizations
        self._admins = admins
        self._collections = collections
        self._admin_service = admin_service
        self._run_in_transaction = run_in_transaction
        self._settings = settings
        self.lifecycle = TenantLifecycle(
            organizations=organizations,
            admins=admins,
            collections=collections,
            run_in_transaction=run_in_transaction,
            master_database_name=settings.mongodb_database,
        )

    def create(self, *, organization_name: str, email: str, password: str) -> OrganizationWithAdmin:
        """Create the organization, its first admin and its tenant collection, all or nothing.

        Organization and admin are stored in one transaction, the organization marked as being created.
        The collection follows, and clearing the mark makes the organization visible. A failure rolls
        back every step, and a process that dies on the way leaves a mark that the next request for
        the name or email, or the repair function, rolls back once its lease has expired.
        """
        slug = slugify(organization_name)
        location = self._collections.locate(slug)
        email = email.lower()
        password_hash = hash_password(password, rounds=self._settings.bcrypt_rounds)
        logger.info("Creating organization", extra={"slug": slug})

        # A leftover collection is rejected before anything is stored. When an organization uses the
        # name, the insert below reports that instead.
        if self._organizations.find_by_slug(slug=slug) is None:
            self._ensure_collection_free(location)
        organization, admin = self._insert_records(organization_name, slug, location, email, password_hash)

        collection_created = False
        try:
            checkpoints.reached("create.records_stored")
            self._collections.create(location)
            collection_created = True
            checkpoints.reached("create.collection_created")

            finished = self._organizations.finish_create(
                organization_id=organization.id, expected_version=organization.version
            )
            if finished is None:
                raise changed_by_another_request(organization)
        except Exception:
            logger.exception(
                "Creating the organization failed; rolling it back", extra={"organization_id": organization.id}
            )
            self._roll_back_create(organization, drop_collection=collection_created)
            raise

        logger.info("Created organization", extra={"organization_id": organization.id, "admin_id": admin.id})
        observability.organization_created()
        return OrganizationWithAdmin(organization=finished, admin=admin)

    def _insert_records(
        self, organization_name: str, slug: str, location: TenantLocation, email: str, password_hash: bytes
    ) -> tuple[Organization, Admin]:
        now = _now()

        # The unique indexes on slug and email decide races: of two concurrent creates, one insert fails.
        def insert_records(session: ClientSession | None) -> tuple[Organization, Admin]:
            organization = self._organizations.insert(
                organization_name=organization_name, slug=slug, location=location, now=now, session=session
            )
            admin = self._insert_admin(organization, email, password_hash, now, session)
            return organization, admin

        try:
            return self._run_in_transaction(insert_records)
        except DuplicateValueError as error:
            blocker = self._blocking_organization(error.field, slug=slug, email=email)
            if blocker is None or not self._settle_blocker(blocker):
                logger.info("Create rejected: duplicate value", extra={"slug": slug, "field": error.field})
                raise self._duplicate_error(error.field, organization_name, slug, email, blocker) from None

        # The name or email belonged to an organization whose create or delete died; it is free now.
        try:
            return self._run_in_transaction(insert_records)
        except DuplicateValueError as retry_error:
            logger.info("Create rejected: duplicate value", extra={"slug": slug, "field": retry_error.field})
            raise self._duplicate_error(retry_error.field, organization_name, slug, email, None) from None

    def _roll_back_create(self, organization: Organization, *, drop_collection: bool) -> None:
        try:
            self.lifecycle.roll_back_create(organization, drop_collection=drop_collection)
        except Exception:
            # The mark stays, and the next request or the repair function rolls the create back.
            logger.exception("Rolling back the create failed", extra={"organization_id": organization.id})
            self.lifecycle.release(organization)

    def _insert_admin(
        self,
        organization: Organization,
        email: str,
        password_hash: bytes,
        now: datetime,
        session: ClientSession | None,
    ) -> Admin:
        try:
            if session is None:
                checkpoints.reached("create.organization_stored")
            return self._admins.insert(
                organization_id=organization.id, email=email, password_hash=password_hash, now=now, session=session
            )
        except Exception:
            if session is None:
                # Without a transaction the organization is already stored; undo it so the name stays free.
                self._organizations.delete(organization_id=organization.id)
            raise

    def _blocking_organization(self, field: str, *, slug: str, email: str) -> Organization | None:
        if field == "slug":
            return self._organizations.find_by_slug(slug=slug)

        admin = self._admins.find_by_email(email=email)
        if admin is None:
            return None
        return self._organizations.find_by_id(organization_id=admin.organization_id)

    def _settle_blocker(self, organization: Organization) -> bool:
        """Settle the blocking organization's create or delete if its request died; tell whether it is gone."""
        if organization.pending_operation not in ("create", "delete") or not self.lifecycle.is_expired(organization):
            return False

        try:
            return self.lifecycle.settle(organization) is None
        except ConflictError:
            return False

    def _duplicate_error(
        self, field: str, name: str, slug: str, email: str, blocker: Organization | None
    ) -> ConflictError:
        if blocker is not None and blocker.deleting_since is not None:
            seconds = lease_remaining_seconds(blocker)
            return ChangeInProgressError(
                f"Organization '{blocker.organization_name}' is being deleted and still uses this "
                f"{'name' if field == 'slug' else 'email'}; retry in {seconds} seconds.",
                retry_after=seconds,
            )
        if blocker is not None and blocker.creating_since is not None:
            # A create that died keeps the name and email until its lease expires, then the next create frees them.
            return ConflictError(
                f"Organization '{blocker.organization_name}' is being created by another request with this "
                f"{'name' if field == 'slug' else 'email'}; if that request failed, retry in a minute."
            )
        if field != "slug":
            return _email_taken(email)
        return _name_taken(name, slug, blocker)

    def get(self, *, organization_name: str) -> Organization:
        """Find an organization by name; names that fold to the same slug find the same organization.

        An organization still being created or already being deleted is not found. During a rename the
        result names the earlier collection for as long as it exists, because a copying move fills the
        new one before it drops the earlier one.
        """
        organization = self._organizations.find_by_slug(slug=slugify(organization_name))
        if organization is None or organization.pending_operation in ("create", "delete"):
            raise NotFoundError(f"Organization '{organization_name}' not found.")

        source = organization.moving_from
        if source is not None and self._collections.exists(source):
            # After the move, a new organization may own a collection at the earlier location.
            if self._organizations.find_by_location(location=source) is None:
                return replace(organization, location=source)
        return organization

    def update(
        self,
        *,
        principal: Principal,
        organization_name: str | None,
        email: str | None,
        password: str | None,
    ) -> OrganizationWithAdmin:
        """Rename the organization and move its collection, and change the admin's email or password.

        A taken name is rejected before any write. The metadata changes then commit with a mark of the
        move in progress and a version check, so of two concurrent updates one gets 409. A failed move
        restores the earlier metadata, and a process that dies during the move leaves the mark, so the
        next request or the repair function finishes the move.
        """
        admin, organization = self._admin_service.resolve(principal)
        logger.info("Updating organization", extra={"organization_id": organization.id, "admin_id": admin.id})
        organization = self._settle(organization)

        new_slug = slugify(organization_name) if organization_name is not None else organization.slug
        new_name = organization_name if organization_name is not None else organization.organization_name
        new_location = self._collections.locate(new_slug)
        new_email = email.lower() if email is not None else admin.email
        new_hash = (
            hash_password(password, rounds=self._settings.bcrypt_rounds)
            if password is not None
            else admin.password_hash
        )

        if new_name == organization.organization_name and email is None and password is None:
            logger.info("Update changes nothing", extra={"organization_id": organization.id})
            return OrganizationWithAdmin(organization=organization, admin=admin)

        if new_slug != organization.slug:
            holder = self._organizations.find_by_slug(slug=new_slug)
            if holder is not None:
                raise self._duplicate_error("slug", new_name, new_slug, new_email, holder)

        moving = new_location != organization.location
        if moving:
            self._ensure_collection_free(new_location)

        updated = self._write_metadata(
            organization=organization,
            admin=admin,
            organization_name=new_name,
            slug=new_slug,
            location=new_location,
            moving_from=organization.location if moving else None,
            email=new_email,
            password_hash=new_hash,
        )

        if moving:
            updated = self._move_collection(previous=organization, current=updated, admin=admin)
        if new_name != organization.organization_name:
            observability.organization_renamed()

        updated_admin = Admin(
            id=admin.id,
            organization_id=admin.organization_id,
            email=new_email,
            password_hash=new_hash,
            created_at=admin.created_at,
        )
        return OrganizationWithAdmin(organization=updated, admin=updated_admin)

    def _ensure_collection_free(self, location: TenantLocation) -> None:
        """Reject a location whose collection exists, naming the organization whose move mark refers to it."""
        try:
            self._collections.ensure_free(location)
        except ConflictError:
            mover = self._organizations.find_moving_from(location=location)
            if mover is None:
                raise
            seconds = lease_remaining_seconds(mover)
            raise ChangeInProgressError(
                f"Collection '{location.collection_name}' still contains the data of organization "
                f"'{mover.organization_name}', whose rename away from this name is in progress; "
                f"choose another name or retry in {seconds} seconds.",
                retry_after=seconds,
            ) from None

    def _settle(self, organization: Organization) -> Organization:
        settled = self.lifecycle.settle(organization)
        if settled is None:
            raise NotFoundError("The organization of this token no longer exists.")
        return settled

    def _move_collection(self, *, previous: Organization, current: Organization, admin: Admin) -> Organization:
        """Move the tenant collection to the location `current` names, or restore `previous` on failure.

        The earlier metadata is restored only after checking that the collection is still at its
        earlier location and absent from the new one. An error whose outcome is unknown (a client-side
        timeout or a lost connection) keeps the mark with its lease instead, because the server may
        still complete the renameCollection. The next request after the lease, or the repair function,
        then finishes the move from the state the server ends in.
        """
        try:
            checkpoints.reached("rename.metadata_written")
            self._collections.move(previous.location, current.location)
        except Exception as error:
            if outcome_unknown(error):
                logger.exception(
                    "Moving the tenant collection timed out or lost the connection; keeping the move mark",
                    extra=self._move_extra(previous, current),
                )
                raise still_running(current, "rename") from error
            return self._recover_failed_move(previous=previous, current=current, admin=admin, error=error)

        return self._finish_moved(previous=previous, current=current)

    @staticmethod
    def _move_extra(previous: Organization, current: Organization) -> dict[str, str]:
        return {
            "organization_id": previous.id,
            "source": previous.location.namespace,
            "target": current.location.namespace,
        }

    def _finish_moved(self, *, previous: Organization, current: Organization) -> Organization:
        try:
            checkpoints.reached("rename.collection_moved")
            finished = self.lifecycle.finish_move(current)
        except Exception:
            # The collection has moved; the next request or the repair function clears the mark.
            logger.exception("Clearing the move mark failed", extra={"organization_id": previous.id})
            self.lifecycle.release(current)
            raise

        logger.info("Renamed organization", extra={"organization_id": previous.id, "slug": finished.slug})
        return finished

    def _recover_failed_move(
        self, *, previous: Organization, current: Organization, admin: Admin, error: Exception
    ) -> Organization:
        """Settle a move that failed with a definite error, from where the collection actually is.

        The earlier metadata comes back only while the source exists and the target either does not
        or belongs to someone else (the server rejected the move onto it). A move that had completed
        is finished, and any other state keeps the mark for the next request or an operator.
        """
        logger.exception("Moving the tenant collection failed", extra=self._move_extra(previous, current))
        target_taken = isinstance(error, CollectionTakenError)
        try:
            if not target_taken:
                self._collections.undo_copy(previous.location, current.location)
                checkpoints.reached("rename.rollback_copy_dropped")
            state = self._collections.inspect_move(previous.location, current.location)
        except Exception:
            # The mark stays, and the next request or the repair function finishes the move instead.
            logger.exception("Rolling back the move failed", extra={"organization_id": previous.id})
            self.lifecycle.release(current)
            raise

        if state.finished and not target_taken:
            logger.warning(
                "The collection had moved before the error; finishing the rename",
                extra=self._move_extra(previous, current),
            )
            return self._finish_moved(previous=previous, current=current)

        if not state.source_exists or (state.target_exists and not target_taken):
            # Restoring the earlier location now would point the organization away from its data.
            logger.error(
                "Kept the move mark: the collections are not where a rollback needs them",
                extra={
                    **self._move_extra(previous, current),
                    "source_exists": state.source_exists,
                    "target_exists": state.target_exists,
                },
            )
            self.lifecycle.release(current)
            raise move_unsettled(
                current.organization_name, previous.location, current.location, state.describe()
            ) from error

        try:
            self._restore_metadata(previous=previous, current=current, admin=admin)
        except Exception:
            logger.exception("Rolling back the move failed", extra={"organization_id": previous.id})
            self.lifecycle.release(current)
            raise

        observability.migration_rolled_back()
        reason = error.message if isinstance(error, ConflictError) else "Moving the data failed; retry the request."
        raise MigrationFailedError(
            f"Renaming '{previous.organization_name}' to '{current.organization_name}' was rolled back, and the "
            f"organization keeps its earlier name and data. {reason}"
        ) from error

    def _write_metadata(
        self,
        *,
        organization: Organization,
        admin: Admin,
        organization_name: str,
        slug: str,
        location: TenantLocation,
        moving_from: TenantLocation | None,
        email: str,
        password_hash: bytes,
    ) -> Organization:
        now = _now()

        def write(session: ClientSession | None) -> Organization:
            updated = self._organizations.update_name(
                organization_id=organization.id,
                expected_version=organization.version,
                organization_name=organization_name,
                slug=slug,
                location=location,
                moving_from=moving_from,
                now=now,
                session=session,
            )
            if updated is None:
                raise changed_by_another_request(organization)

            if email != admin.email or password_hash != admin.password_hash:
                self._write_admin(organization, updated, admin, email, password_hash, now, session)
            return updated

        try:
            return self._run_in_transaction(write)
        except DuplicateValueError as error:
            logger.info(
                "Update rejected: duplicate value", extra={"organization_id": organization.id, "field": error.field}
            )
            raise self._duplicate_error(error.field, organization_name, slug, email, None) from None

    def _write_admin(
        self,
        organization: Organization,
        updated: Organization,
        admin: Admin,
        email: str,
        password_hash: bytes,
        now: datetime,
        session: ClientSession | None,
    ) -> None:
        try:
            self._admins.update_credentials(
                admin_id=admin.id, email=email, password_hash=password_hash, now=now, session=session
            )
        except DuplicateValueError:
            if session is None:
                # Without a transaction the organization change is already stored; put it back.
                self._revert_organization(previous=organization, current=updated)
            raise

    def _restore_metadata(self, *, previous: Organization, current: Organization, admin: Admin) -> None:
        def restore(session: ClientSession | None) -> None:
            self._revert_organization(previous=previous, current=current, session=session)
            self._admins.update_credentials(
                admin_id=admin.id, email=admin.email, password_hash=admin.password_hash, now=_now(), session=session
            )

        try:
            self._run_in_transaction(restore)
        except Exception:
            logger.exception("Restoring organization metadata failed", extra={"organization_id": previous.id})
            raise

    def _revert_organization(
        self, *, previous: Organization, current: Organization, session: ClientSession | None = None
    ) -> None:
        self._organizations.update_name(
            organization_id=previous.id,
            expected_version=current.version,
            organization_name=previous.organization_name,
            slug=previous.slug,
            location=previous.location,
            moving_from=None,
            now=_now(),
            session=session,
        )

    def delete(self, *, principal: Principal) -> str:
        """Delete the organization, its admins and its tenant collection; return the organization's name."""
        _admin, organization = self._admin_service.resolve(principal)
        logger.info("Deleting organization", extra={"organization_id": organization.id})

        if organization.pending_operation == "delete" and self.lifecycle.is_expired(organization):
            # An earlier delete stopped partway; settling it finishes the requested delete.
            logger.info("Finishing an earlier delete", extra={"organization_id": organization.id})
            self.lifecycle.settle(organization)
            observability.organization_deleted()
            return organization.organization_name

        organization = self._settle(organization)

        # The mark claims the organization against a concurrent rename, and GET stops showing it.
        marked = self._organizations.mark_deleting(
            organization_id=organization.id, expected_version=organization.version, now=_now()
        )
        if marked is None:
            raise changed_by_another_request(organization)

        try:
            checkpoints.reached("delete.marked")
            self.lifecycle.remove_all(marked)
        except Exception as error:
            if outcome_unknown(error):
                # The server may still be dropping the collection, so the mark keeps its lease.
                logger.exception(
                    "Deleting the organization timed out; keeping the delete mark",
                    extra={"organization_id": organization.id},
                )
                raise still_running(marked, "delete") from error
            logger.exception("Deleting the organization failed", extra={"organization_id": organization.id})
            self.lifecycle.release(marked)
            raise

        logger.info("Deleted organization", extra={"organization_id": organization.id})
        observability.organization_deleted()
        return organization.organization_name
