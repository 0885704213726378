"""AdminService: login, and the admin and organization behind a verified token."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aws_lambda_powertools import Logger

from orgservice import observability
from orgservice.core.config import Settings
from orgservice.core.keys import load_key_ring
from orgservice.core.security import verify_against_dummy, verify_password
from orgservice.errors import AuthenticationError, NotFoundError, TooManyAttemptsError
from orgservice.models import Admin, Organization, Principal
from orgservice.repositories.admins import AdminRepository
from orgservice.repositories.login_attempts import LoginAttemptRepository
from orgservice.repositories.organizations import OrganizationRepository

logger = Logger(child=True)

INVALID_CREDENTIALS = "Invalid credentials"
TOO_MANY_ATTEMPTS = "Too many failed logins; retry after {seconds} seconds."
# Changes in progress that hide the organization from GET /org/get, and so from login.
HIDDEN_OPERATIONS = ("create", "delete")
REVOKED = "The token was revoked by a change of the admin's email or password; log in again for a new token."


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A signed access token and its lifetime in seconds."""

    access_token: str
    expires_in: int


class AdminService:
    """Authenticates admins and resolves the identity carried by a token."""

    def __init__(
        self,
        *,
        admins: AdminRepository,
        organizations: OrganizationRepository,
        login_attempts: LoginAttemptRepository,
        settings: Settings,
    ) -> None:
        self._admins = admins
        self._organizations = organizations
        self._login_attempts = login_attempts
        self._settings = settings

    def login(self, *, email: str, password: str, source_ip: str | None = None) -> IssuedToken:
        """Check the credentials and issue a token.

        An unknown email, a wrong password, and an admin whose organization is gone or is being
        created or deleted all fail alike, with the same message.

        Past LOGIN_MAX_FAILURES_PER_EMAIL failures for the email, or LOGIN_MAX_FAILURES_PER_IP for
        the source address, within LOGIN_FAILURE_WINDOW_SECONDS, the login fails with
        TooManyAttemptsError without checking the password. Unknown emails count like known ones,
        so the limit does not reveal which emails have accounts. In-process callers without a
        network address, such as the local demo set-up, pass no `source_ip` and count per email only.
        """
        email = email.lower()
        keys = [f"email:{email}"] if source_ip is None else [f"email:{email}", f"ip:{source_ip}"]
        self._reject_when_locked(keys)
        admin = self._admins.find_by_email(email=email)

        if admin is None:
            # Spend the same bcrypt time as a real check, so response time does not reveal
            # whether the email has an account.
            verify_against_dummy(password, rounds=self._settings.bcrypt_rounds)
            self._record_failure(keys)
            logger.info("Login failed: unknown email", extra={"source_ip": source_ip})
            observability.login_failed()
            raise AuthenticationError(INVALID_CREDENTIALS)

        if not verify_password(password, admin.password_hash):
            self._record_failure(keys)
            logger.info("Login failed: wrong password", extra={"admin_id": admin.id, "source_ip": source_ip})
            observability.login_failed()
            raise AuthenticationError(INVALID_CREDENTIALS)

        # The organization is read only after the password check, so an unknown email, a wrong
        # password and a hidden organization all spend one bcrypt check. A hidden organization
        # counts as a failure and does not reset the counter, so the rate limit behaves as for a
        # wrong password and neither the 401 nor a later 429 reveals that the password was right.
        organization = self._organizations.find_by_id(organization_id=admin.organization_id)
        if organization is None or organization.pending_operation in HIDDEN_OPERATIONS:
            self._record_failure(keys)
            logger.info(
                "Login failed: organization missing or being created or deleted",
                extra={
                    "admin_id": admin.id,
                    "organization_id": admin.organization_id,
                    "operation": organization.pending_operation if organization else None,
                    "source_ip": source_ip,
                },
            )
            observability.login_failed()
            raise AuthenticationError(INVALID_CREDENTIALS)

        # Only the email's counter starts over: one good login from an address that guesses many
        # emails must not clear that address's counter.
        self._login_attempts.reset(key=keys[0])

        # PyJWT loads only in the functions that issue tokens, so the others start without it.
        from orgservice.core.tokens import issue_token

        token = issue_token(
            admin_id=admin.id,
            organization_id=admin.organization_id,
            token_version=admin.token_version,
            key=load_key_ring(self._settings).current,
            issuer=self._settings.jwt_issuer,
            audience=self._settings.jwt_audience,
            expires_seconds=self._settings.jwt_expires_seconds,
        )
        logger.info("Login succeeded", extra={"admin_id": admin.id, "organization_id": admin.organization_id})
        observability.login_succeeded()
        return IssuedToken(access_token=token, expires_in=self._settings.jwt_expires_seconds)

    def _limits(self) -> dict[str, int]:
        return {
            "email": self._settings.login_max_failures_per_email,
            "ip": self._settings.login_max_failures_per_ip,
        }

    def _reject_when_locked(self, keys: list[str]) -> None:
        now = datetime.now(UTC)
        limits = self._limits()
        counts = self._login_attempts.current(keys=keys, now=now)
        locked = [count for count in counts if count.failures >= limits[count.key.partition(":")[0]]]
        if not locked:
            return

        # Retry-After is a whole number of seconds (RFC 9110, section 10.2.3), rounded up.
        retry_after = max(1, math.ceil(max((count.expires_at - now).total_seconds() for count in locked)))
        logger.warning(
            "Login rejected: too many failures",
            extra={"locked": [count.key.partition(":")[0] for count in locked], "retry_after": retry_after},
        )
        raise TooManyAttemptsError(TOO_MANY_ATTEMPTS.format(seconds=retry_after), retry_after=retry_after)

    def _record_failure(self, keys: list[str]) -> None:
        now = datetime.now(UTC)
        window = timedelta(seconds=self._settings.login_failure_window_seconds)
        for key in keys:
            self._login_attempts.record_failure(key=key, now=now, window=window)

    def resolve(self, principal: Principal) -> tuple[Admin, Organization]:
        """Load the token's admin and organization.

        Raises AuthenticationError when the admin is gone, belongs to another organization, or has
        changed email or password since the token was issued, and NotFoundError when the
        organization is gone.
        """
        admin = self._admins.find_by_id(admin_id=principal.admin_id)
        if admin is None or admin.organization_id != principal.organization_id:
            logger.info(
                "Token refers to an admin that no longer exists",
                extra={"admin_id": principal.admin_id, "organization_id": principal.organization_id},
            )
            raise AuthenticationError(
                "The admin of this token no longer exists; log in as an existing admin for a new token."
            )

        if principal.token_version != admin.token_version:
            logger.info(
                "Token was revoked",
                extra={
                    "admin_id": admin.id,
                    "token_version": principal.token_version,
                    "current_version": admin.token_version,
                },
            )
            raise AuthenticationError(REVOKED)

        organization = self._organizations.find_by_id(organization_id=principal.organization_id)
        if organization is None:
            logger.info("Token refers to a deleted organization", extra={"organization_id": principal.organization_id})
            raise NotFoundError("The organization of this token no longer exists.")
        return admin, organization
