"""AdminService: login and token identity resolution against a real server."""

from __future__ import annotations

import jwt
import pytest
from bson import ObjectId
from orgservice.errors import AuthenticationError, NotFoundError
from orgservice.models import Principal
from orgservice.services import admins as admins_module
from orgservice.services.admins import INVALID_CREDENTIALS, AdminService
from orgservice.services.organizations import OrganizationService, OrganizationWithAdmin
from pymongo.database import Database

PASSWORD = "correct-horse-42"


@pytest.fixture
def acme(organization_service: OrganizationService) -> OrganizationWithAdmin:
    return organization_service.create(organization_name="Acme Corp", email="admin@acme.example.com", password=PASSWORD)


def test_login_issues_token(acme: OrganizationWithAdmin, admin_service: AdminService) -> None:
    issued = admin_service.login(email="ADMIN@acme.example.com", password=PASSWORD)

    assert issued.access_token.count(".") == 2
    assert issued.expires_in == 3600


@pytest.mark.parametrize(
    ("email", "password"),
    [("admin@acme.example.com", "wrong-password"), ("nobody@acme.example.com", PASSWORD)],
)
def test_login_failure_same_message(
    acme: OrganizationWithAdmin, admin_service: AdminService, email: str, password: str
) -> None:
    with pytest.raises(AuthenticationError) as caught:
        admin_service.login(email=email, password=password)

    assert caught.value.message == INVALID_CREDENTIALS


def test_login_unknown_email_runs_bcrypt(
    acme: OrganizationWithAdmin, admin_service: AdminService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown email still costs one bcrypt check, so timing does not reveal which emails exist."""
    checked: list[str] = []
    original = admins_module.verify_against_dummy

    def spy(password: str, *, rounds: int) -> None:
        checked.append(password)
        original(password, rounds=rounds)

    monkeypatch.setattr(admins_module, "verify_against_dummy", spy)

    with pytest.raises(AuthenticationError):
        admin_service.login(email="nobody@acme.example.com", password=PASSWORD)

    assert checked == [PASSWORD]


def test_resolve_returns_admin_and_organization(acme: OrganizationWithAdmin, admin_service: AdminService) -> None:
    admin, organization = admin_service.resolve(Principal(admin_id=acme.admin.id, organization_id=acme.organization.id))

    assert admin.id == acme.admin.id
    assert organization.id == acme.organization.id


@pytest.mark.parametrize("admin_id", ["", "zzz", "6b131ecb2e1f17fbed514eff"])
def test_resolve_unknown_admin_rejected(
    acme: OrganizationWithAdmin, admin_service: AdminService, admin_id: str
) -> None:
    with pytest.raises(AuthenticationError, match="admin of this token no longer exists"):
        admin_service.resolve(Principal(admin_id=admin_id, organization_id=acme.organization.id))


def test_resolve_other_organization_rejected(
    acme: OrganizationWithAdmin, organization_service: OrganizationService, admin_service: AdminService
) -> None:
    globex = organization_service.create(
        organization_name="Globex", email="admin@globex.example.com", password=PASSWORD
    )

    with pytest.raises(AuthenticationError):
        admin_service.resolve(Principal(admin_id=acme.admin.id, organization_id=globex.organization.id))


def test_resolve_missing_organization_not_found(
    acme: OrganizationWithAdmin, admin_service: AdminService, master_db: Database
) -> None:
    master_db.organizations.delete_one({"_id": ObjectId(acme.organization.id)})

    with pytest.raises(NotFoundError, match="no longer exists"):
        admin_service.resolve(Principal(admin_id=acme.admin.id, organization_id=acme.organization.id))


@pytest.mark.parametrize("version", [0, 2])
def test_resolve_other_token_version_rejected(
    acme: OrganizationWithAdmin, admin_service: AdminService, master_db: Database, version: int
) -> None:
    master_db.admins.update_one({"_id": ObjectId(acme.admin.id)}, {"$set": {"token_version": 1}})
    principal = Principal(admin_id=acme.admin.id, organization_id=acme.organization.id, token_version=version)

    with pytest.raises(AuthenticationError, match="revoked"):
        admin_service.resolve(principal)


def test_resolve_admin_without_version_counts_zero(
    acme: OrganizationWithAdmin, admin_service: AdminService, master_db: Database
) -> None:
    master_db.admins.update_one({"_id": ObjectId(acme.admin.id)}, {"$unset": {"token_version": ""}})

    admin, _organization = admin_service.resolve(
        Principal(admin_id=acme.admin.id, organization_id=acme.organization.id, token_version=0)
    )

    assert admin.token_version == 0


def test_login_token_carries_admin_version(
    acme: OrganizationWithAdmin, admin_service: AdminService, master_db: Database
) -> None:
    master_db.admins.update_one({"_id": ObjectId(acme.admin.id)}, {"$set": {"token_version": 7}})

    issued = admin_service.login(email="admin@acme.example.com", password=PASSWORD)

    assert jwt.decode(issued.access_token, options={"verify_signature": False})["ver"] == 7
