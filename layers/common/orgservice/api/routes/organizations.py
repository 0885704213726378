"""HTTP routes: parse and validate with pydantic, call one service method, shape the response.

Each router contains one endpoint, so each function's app serves only its own route.

The endpoints are coroutines that call the blocking services directly. Lambda hands a container one
event at a time, and Mangum runs it on the container's event loop, so nothing else waits for the loop
while pymongo or bcrypt works. A plain function would cost a hand-off to FastAPI's worker thread on
every request, about as long as the rest of a warm GET. NOTE: under a concurrent ASGI server
instead, these endpoints would block each other, so make them plain functions again there.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from orgservice.api.deps import AdminServiceDep, OrganizationServiceDep, PrincipalDep, SourceIpDep
from orgservice.schemas import (
    AccessToken,
    AdminLogin,
    ErrorBody,
    Message,
    OrganizationCreate,
    OrganizationCreated,
    OrganizationDetail,
    OrganizationName,
    OrganizationPublic,
    OrganizationUpdate,
    OrganizationUpdated,
)

create_router = APIRouter()
login_router = APIRouter()
get_router = APIRouter()
update_router = APIRouter()
delete_router = APIRouter()


@create_router.post(
    "/org/create",
    status_code=status.HTTP_201_CREATED,
    response_model=OrganizationCreated,
    responses={409: {"model": ErrorBody}, 422: {"model": ErrorBody}, 503: {"model": ErrorBody}},
)
async def create_organization(body: OrganizationCreate, service: OrganizationServiceDep) -> OrganizationCreated:
    """Create an organization with its first admin and tenant collection."""
    created = service.create(organization_name=body.organization_name, email=body.email, password=body.password)
    return OrganizationCreated(
        message="Organization created successfully",
        organization=OrganizationDetail.of_admin(created.organization, created.admin),
        admin_id=created.admin.id,
    )


@login_router.post(
    "/org/admin/login",
    response_model=AccessToken,
    responses={
        401: {"model": ErrorBody},
        422: {"model": ErrorBody},
        429: {"model": ErrorBody},
        503: {"model": ErrorBody},
    },
)
async def admin_login(body: AdminLogin, service: AdminServiceDep, source_ip: SourceIpDep) -> AccessToken:
    """Exchange an admin's email and password for a bearer token."""
    token = service.login(email=body.email, password=body.password, source_ip=source_ip)
    return AccessToken(access_token=token.access_token, expires_in=token.expires_in)


@get_router.get(
    "/org/get",
    response_model=OrganizationPublic,
    responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}, 503: {"model": ErrorBody}},
)
async def get_organization(
    organization_name: Annotated[OrganizationName, Query()], service: OrganizationServiceDep
) -> OrganizationPublic:
    """Return the public fields of an organization found by name."""
    return OrganizationPublic.of(service.get(organization_name=organization_name))


@update_router.put(
    "/org/update",
    response_model=OrganizationUpdated,
    responses={
        401: {"model": ErrorBody},
        404: {"model": ErrorBody},
        409: {"model": ErrorBody},
        422: {"model": ErrorBody},
        503: {"model": ErrorBody},
    },
)
async def update_organization(
    body: OrganizationUpdate, principal: PrincipalDep, service: OrganizationServiceDep
) -> OrganizationUpdated:
    """Rename the caller's organization or change the caller's email or password."""
    updated = service.update(
        principal=principal, organization_name=body.organization_name, email=body.email, password=body.password
    )
    return OrganizationUpdated(
        message="Organization updated successfully",
        organization=OrganizationDetail.of_admin(updated.organization, updated.admin),
    )


@delete_router.delete(
    "/org/delete",
    response_model=Message,
    responses={
        401: {"model": ErrorBody},
        404: {"model": ErrorBody},
        409: {"model": ErrorBody},
        503: {"model": ErrorBody},
    },
)
async def delete_organization(principal: PrincipalDep, service: OrganizationServiceDep) -> Message:
    """Delete the caller's organization, its admins and its tenant collection."""
    name = service.delete(principal=principal)
    return Message(message=f"Organization '{name}' deleted successfully")
