"""FastAPI dependencies, as Annotated aliases that routes take as parameters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from orgservice.core import db
from orgservice.core.config import Settings, get_settings
from orgservice.errors import AuthenticationError
from orgservice.models import Principal
from orgservice.repositories.admins import AdminRepository
from orgservice.repositories.login_attempts import LoginAttemptRepository
from orgservice.repositories.organizations import OrganizationRepository
from orgservice.services.admins import AdminService
from orgservice.services.organizations import OrganizationService
from orgservice.wiring import build_collection_service

# The dependencies that FastAPI resolves are coroutines without parameters of their own. They do no
# I/O after the first request of a container. FastAPI would hand a plain function to its worker
# thread, which costs a thread hand-off per dependency, and each nested dependency adds to every request.


def get_admin_service(settings: Settings) -> AdminService:
    database = db.get_database(settings)
    return AdminService(
        admins=AdminRepository(database),
        organizations=OrganizationRepository(database),
        login_attempts=LoginAttemptRepository(database),
        settings=settings,
    )


async def _admin_service() -> AdminService:
    return get_admin_service(get_settings())


AdminServiceDep = Annotated[AdminService, Depends(_admin_service)]


def get_organization_service(settings: Settings, admin_service: AdminService) -> OrganizationService:
    database = db.get_database(settings)
    return OrganizationService(
        organizations=OrganizationRepository(database),
        admins=AdminRepository(database),
        collections=build_collection_service(database),
        admin_service=admin_service,
        run_in_transaction=db.run_in_transaction,
        settings=settings,
    )


async def _organization_service() -> OrganizationService:
    settings = get_settings()
    return get_organization_service(settings, get_admin_service(settings))


OrganizationServiceDep = Annotated[OrganizationService, Depends(_organization_service)]


NO_VERIFIED_TOKEN = "The request carries no verified token; send 'Authorization: Bearer <token>'."


def _parse_token_version(value: Any) -> int | None:
    # API Gateway passes the authorizer's context values to the function as strings.
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


async def get_principal(request: Request) -> Principal:
    """Read the admin id, organization id and token version that the authorizer put in the request context.

    The services compare the token version with the admin record, so a token issued before a
    change of email or password, or before the admin was deleted, gets 401.
    """
    event: dict[str, Any] = request.scope.get("aws.event") or {}
    context = (event.get("requestContext") or {}).get("authorizer") or {}
    admin_id = context.get("admin_id")
    organization_id = context.get("organization_id")
    token_version = _parse_token_version(context.get("token_version"))
    if not isinstance(admin_id, str) or not admin_id or not isinstance(organization_id, str) or not organization_id:
        raise AuthenticationError(NO_VERIFIED_TOKEN)
    if token_version is None:
        raise AuthenticationError(NO_VERIFIED_TOKEN)
    return Principal(admin_id=admin_id, organization_id=organization_id, token_version=token_version)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_source_ip(request: Request) -> str:
    """Return the caller's address as API Gateway saw it, the key of the per-address login limit."""
    event: dict[str, Any] = request.scope.get("aws.event") or {}
    identity = (event.get("requestContext") or {}).get("identity") or {}
    source_ip = identity.get("sourceIp")
    if isinstance(source_ip, str) and source_ip:
        return source_ip

    # NOTE: an event without identity.sourceIp (never sent by API Gateway) shares one counter.
    return "unknown"


SourceIpDep = Annotated[str, Depends(get_source_ip)]
