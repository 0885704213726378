"""AdminService: login, and the admin and organization behind a verified token."""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools import Logger

from orgservice.core.config import Settings, resolve_jwt_key
from orgservice.core.security import verify_against_dummy, verify_password
from orgservice.errors import AuthenticationError, NotFoundError
from orgservice.models import Admin, Organization, Principal
from orgservice.repositories.admins import AdminRepository
from orgservice.repositories.organizations import OrganizationRepository

logger = Logger(child=True)

INVALID_CREDENTIALS = "Invalid credentials"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A signed access token and its lifetime in seconds."""

    access_token: str
    expires_in: int


class AdminService:
    """Authenticates admins and resolves the identity carried by a token."""

    def __init__(self, *, admins: AdminRepository, organizations: OrganizationRepository, settings: Settings) -> None:
        self._admins = admins
        self._organizations = organizations
        self._settings = settings

    def login(self, *, email: str, password: str) -> IssuedToken:
        """Check the credentials and issue a token; unknown email and wrong password fail alike."""
        admin = self._admins.find_by_email(email=email.lower())

        if admin is None:
            # Spend the same bcrypt time as a real check, so response time does not reveal
            # whether the email has an account.
            verify_against_dummy(password, rounds=self._settings.bcrypt_rounds)
            logger.info("Login failed: unknown email")
            raise AuthenticationError(INVALID_CREDENTIALS)

        if not verify_password(password, admin.password_hash):
            logger.info("Login failed: wrong password", extra={"admin_id": admin.id})
            raise AuthenticationError(INVALID_CREDENTIALS)

        # PyJWT loads only in the functions that issue tokens, so the others start without it.
        from orgservice.core.tokens import issue_token

        token = issue_token(
            admin_id=admin.id,
            organization_id=admin.organization_id,
            key=resolve_jwt_key(self._settings),
            issuer=self._settings.jwt_issuer,
            audience=self._settings.jwt_audience,
            expires_seconds=self._settings.jwt_expires_seconds,
        )
        logger.info("Login succeeded", extra={"admin_id": admin.id, "organization_id": admin.organization_id})
        return IssuedToken(access_token=token, expires_in=self._settings.jwt_expires_seconds)

    def resolve(self, principal: Principal) -> tuple[Admin, Organization]:
        """Load the token's admin and organization, failing when either is gone or they do not match."""
        admin = self._admins.find_by_id(admin_id=principal.admin_id)
        if admin is None or admin.organization_id != principal.organization_id:
            logger.info(
                "Token refers to an admin that no longer exists",
                extra={"admin_id": principal.admin_id, "organization_id": principal.organization_id},
            )
            raise AuthenticationError(
                "The admin of this token no longer exists; log in as an existing admin for a new token."
            )

        organization = self._organizations.find_by_id(organization_id=principal.organization_id)
        if organization is None:
            logger.info("Token refers to a deleted organization", extra={"organization_id": principal.organization_id})
            raise NotFoundError("The organization of this token no longer exists.")
        return admin, organization
