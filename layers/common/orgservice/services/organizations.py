"""OrganizationService: create, read, rename and delete organizations with their admin and tenant collection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger
from pymongo.client_session import ClientSession

from orgservice import observability
from orgservice.core.config import Settings
from orgservice.core.security import hash_password
from orgservice.errors import ConflictError, MigrationFailedError, NotFoundError
from orgservice.models import Admin, Organization, Principal, TenantLocation
from orgservice.naming import slugify
from orgservice.repositories.admins import AdminRepository
from orgservice.repositories.errors import DuplicateValueError
from orgservice.repositories.organizations import OrganizationRepository
from orgservice.services.admins import AdminService
from orgservice.services.collections import CollectionService

logger = Logger(child=True)

# A Lambda function is stopped at its timeout (at most 28 s in template.yaml), so a rename or delete
# that started longer ago than this has died, and the next request that touches the organization finishes it.
PENDING_CHANGE_LEASE = timedelta(seconds=60)

# Runs a unit of work in one transaction where the server supports it; see core.db.run_in_transaction.
TransactionRunner = Callable[[Callable[[ClientSession | None], Any]], Any]


@dataclass(frozen=True, slots=True)
class OrganizationWithAdmin:
    """An organization together with the admin that a request created or acted as."""

    organization: Organization
    admin: Admin


def _now() -> datetime:
    # MongoDB stores milliseconds, so round here and the response equals what a later read returns.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


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

    def create(self, *, organization_name: str, email: str, password: str) -> OrganizationWithAdmin:
        """Create the organization, its first admin and its tenant collection."""
        slug = slugify(organization_name)
        location = self._collections.locate(slug)
        email = email.lower()
        password_hash = hash_password(password, rounds=self._settings.bcrypt_rounds)
        now = _now()
        logger.info("Creating organization", extra={"slug": slug})

        # The unique indexes on slug and email decide races: of two concurrent creates, one insert fails.
        def insert_records(session: ClientSession | None) -> tuple[Organization, Admin]:
            organization = self._organizations.insert(
                organization_name=organization_name, slug=slug, location=location, now=now, session=session
            )
            admin = self._insert_admin(organization, email, password_hash, now, session)
            return organization, admin

        try:
            organization, admin = self._run_in_transaction(insert_records)
        except DuplicateValueError as error:
            blocker = self._blocking_organization(error.field, slug=slug, email=email)
            if blocker is None or not self._finish_dead_delete(blocker):
                logger.info("Create rejected: duplicate value", extra={"slug": slug, "field": error.field})
                raise self._duplicate_error(error.field, organization_name, slug, email, blocker) from None

            # The name or email belonged to an organization whose delete died; it is free now.
            try:
                organization, admin = self._run_in_transaction(insert_records)
            except DuplicateValueError as retry_error:
                logger.info("Create rejected: duplicate value", extra={"slug": slug, "field": retry_error.field})
                raise self._duplicate_error(retry_error.field, organization_name, slug, email, None) from None

        # NOTE: a process killed between the commit above and the collection below leaves an
        # organization without its collection until the next rename or delete of it.
        try:
            self._collections.create(location)
        except Exception:
            logger.exception(
                "Creating the tenant collection failed; removing the organization",
                extra={"organization_id": organization.id},
            )
            self._remove_records(organization.id)
            raise

        logger.info("Created organization", extra={"organization_id": organization.id, "admin_id": admin.id})
        observability.organization_created()
        return OrganizationWithAdmin(organization=organization, admin=admin)

    def _insert_admin(
        self,
        organization: Organization,
        email: str,
        password_hash: bytes,
        now: datetime,
        session: ClientSession | None,
    ) -> Admin:
        try:
            return self._admins.insert(
                organization_id=organization.id, email=email, password_hash=password_hash, now=now, session=session
            )
        except DuplicateValueError:
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

    def _finish_dead_delete(self, organization: Organization) -> bool:
        """Finish the organization's delete if one started and its request died; tell whether it did."""
        if organization.deleting_since is None or organization.pending_since is None:
            return False
        if _now() - organization.pending_since < PENDING_CHANGE_LEASE:
            return False

        logger.warning("Finishing an interrupted delete", extra={"organization_id": organization.id})
        self._remove_all(organization)
        return True

    def _duplicate_error(
        self, field: str, name: str, slug: str, email: str, blocker: Organization | None
    ) -> ConflictError:
        if blocker is not None and blocker.deleting_since is not None:
            return ConflictError(
                f"Organization '{blocker.organization_name}' is being deleted and still uses this "
                f"{'name' if field == 'slug' else 'email'}; retry in a few seconds."
            )
        if field != "slug":
            return _email_taken(email)
        return _name_taken(name, slug, blocker)

    def get(self, *, organization_name: str) -> Organization:
        """Find an organization by name; names that fold to the same slug find the same organization."""
        organization = self._organizations.find_by_slug(slug=slugify(organization_name))
        if organization is None or organization.deleting_since is not None:
            raise NotFoundError(f"Organization '{organization_name}' not found.")
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

        The metadata changes commit first, with a mark of the move in progress, and a unique index
        rejects a taken name or email before any collection moves. A failed move then restores the
        earlier metadata. While the mark is set, other renames and deletes of the organization get 409.
        """
        admin, organization = self._admin_service.resolve(principal)
        logger.info("Updating organization", extra={"organization_id": organization.id, "admin_id": admin.id})
        organization = self._settle_pending_change(organization)

        new_slug = slugify(organization_name) if organization_name is not None else organization.slug
        new_name = organization_name if organization_name is not None else organization.organization_name
        new_location = self._collections.locate(new_slug)
        new_email = email.lower() if email is not None else admin.email
        new_hash = (
            hash_password(password, rounds=self._settings.bcrypt_rounds)
            if password is not None
            else admin.password_hash
        )

        if new_slug != organization.slug:
            holder = self._organizations.find_by_slug(slug=new_slug)
            if holder is not None:
                raise self._duplicate_error("slug", new_name, new_slug, new_email, holder)

        moving = new_location != organization.location
        if moving:
            self._collections.ensure_free(new_location)

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

    def _move_collection(self, *, previous: Organization, current: Organization, admin: Admin) -> Organization:
        """Move the tenant collection to the location `current` names, or restore `previous` on failure."""
        # NOTE: until the move below finishes, GET returns the new collection name before it exists.
        try:
            self._collections.move(previous.location, current.location)
        except Exception as error:
            logger.exception(
                "Moving the tenant collection failed; restoring the earlier metadata",
                extra={
                    "organization_id": previous.id,
                    "source": previous.location.namespace,
                    "target": current.location.namespace,
                },
            )
            self._restore_metadata(previous=previous, current=current, admin=admin)
            observability.migration_rolled_back()
            reason = error.message if isinstance(error, ConflictError) else "Moving the data failed; retry the request."
            raise MigrationFailedError(
                f"Renaming '{previous.organization_name}' to '{current.organization_name}' was rolled back, and the "
                f"organization keeps its earlier name and data. {reason}"
            ) from error

        finished = self._finish_move(current)
        logger.info("Renamed organization", extra={"organization_id": previous.id, "slug": finished.slug})
        return finished

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
                raise ConflictError(
                    f"Organization '{organization.organization_name}' was changed by another request; "
                    "fetch it again and retry."
                )

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

    def _finish_move(self, organization: Organization) -> Organization:
        finished = self._organizations.finish_move(
            organization_id=organization.id, expected_version=organization.version
        )
        if finished is None:
            # Only a request that took longer than the lease lets another request take over its move.
            logger.warning("The move mark was changed by another request", extra={"organization_id": organization.id})
            raise ConflictError(
                f"Organization '{organization.organization_name}' was changed by another request; "
                "fetch it again and retry."
            )
        return finished

    def _settle_pending_change(self, organization: Organization) -> Organization:
        """Reject a request while a rename or delete of the organization runs, or finish one that died."""
        if organization.pending_since is None:
            return organization

        if _now() - organization.pending_since < PENDING_CHANGE_LEASE:
            logger.info("Request rejected: change in progress", extra={"organization_id": organization.id})
            raise ConflictError(
                f"Organization '{organization.organization_name}' is being renamed or deleted by another request; "
                "retry in a few seconds."
            )

        logger.warning(
            "Finishing an interrupted change",
            extra={"organization_id": organization.id, "deleting": organization.deleting_since is not None},
        )
        if organization.deleting_since is not None:
            self._remove_all(organization)
            raise NotFoundError("The organization of this token no longer exists.")

        if organization.moving_from is not None:
            self._collections.finish_interrupted_move(organization.moving_from, organization.location)
        return self._finish_move(organization)

    def delete(self, *, principal: Principal) -> str:
        """Delete the organization, its admins and its tenant collection; return the organization's name."""
        _admin, organization = self._admin_service.resolve(principal)
        logger.info("Deleting organization", extra={"organization_id": organization.id})

        if organization.deleting_since is not None:
            # An earlier delete stopped partway, and finishing it is safe to repeat.
            logger.info("Finishing an earlier delete", extra={"organization_id": organization.id})
            marked = organization
        else:
            organization = self._settle_pending_change(organization)

            # The mark claims the organization against a concurrent rename, and GET stops showing it.
            marked = self._organizations.mark_deleting(
                organization_id=organization.id, expected_version=organization.version, now=_now()
            )
            if marked is None:
                raise ConflictError(
                    f"Organization '{organization.organization_name}' was changed by another request; "
                    "fetch it again and retry."
                )

        self._remove_all(marked)
        logger.info("Deleted organization", extra={"organization_id": organization.id})
        observability.organization_deleted()
        return organization.organization_name

    def _remove_all(self, organization: Organization) -> None:
        # The collection goes first: a retry after a failure in between finds the organization and
        # finishes the job, and no tenant data is ever left without an organization that owns it.
        self._collections.drop(organization.location)
        self._remove_records(organization.id)

    def _remove_records(self, organization_id: str) -> None:
        def remove(session: ClientSession | None) -> None:
            self._admins.delete_by_organization(organization_id=organization_id, session=session)
            self._organizations.delete(organization_id=organization_id, session=session)

        self._run_in_transaction(remove)
