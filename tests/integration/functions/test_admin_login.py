"""POST /org/admin/login through the handler: tokens, identical failures, case-insensitive email."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import bcrypt
import jwt
import pytest
from orgservice.core.config import get_settings
from orgservice.core.keys import load_key_ring
from orgservice.core.tokens import verify_token
from pymongo.database import Database

from tests.integration.functions.invoke import Tenant, invoke, login, register


def verify(token: str) -> object:
    settings = get_settings()
    return verify_token(
        token,
        keys=load_key_ring(settings),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway_seconds=0,
        max_lifetime_seconds=settings.jwt_expires_seconds,
    )


def test_login_returns_bearer_token(acme: Tenant) -> None:
    response = login(acme.email, acme.password)

    assert response.status == 200
    assert response.body.keys() == {"access_token", "token_type", "expires_in"}
    assert response.body["token_type"] == "bearer"
    assert response.body["expires_in"] == get_settings().jwt_expires_seconds


def test_login_token_identifies_admin(acme: Tenant) -> None:
    claims = verify(login(acme.email, acme.password).body["access_token"])

    assert claims.admin_id == acme.admin_id
    assert claims.organization_id == acme.organization_id


def test_login_token_lifetime_matches_expires_in(acme: Tenant) -> None:
    response = login(acme.email, acme.password)

    payload = jwt.decode(response.body["access_token"], options={"verify_signature": False})

    assert payload["exp"] - payload["iat"] == response.body["expires_in"]


@pytest.mark.parametrize("email", ["admin@acme.example.com", "ADMIN@ACME.EXAMPLE.COM", "Admin@Acme.Example.Com"])
def test_login_accepts_any_email_case(acme: Tenant, email: str) -> None:
    assert login(email, acme.password).status == 200


def test_login_wrong_password_returns_401(acme: Tenant) -> None:
    response = login(acme.email, acme.password + "x")

    assert response.status == 401
    assert response.body == {"detail": "Invalid credentials"}


def test_login_unknown_email_returns_401(acme: Tenant) -> None:
    response = login("nobody@acme.example.com", acme.password)

    assert response.status == 401
    assert response.body == {"detail": "Invalid credentials"}


def test_login_failures_look_identical(acme: Tenant) -> None:
    unknown = login("nobody@acme.example.com", acme.password)
    wrong = login(acme.email, "wrong-password")

    assert unknown.status == wrong.status
    assert unknown.body == wrong.body
    assert unknown.headers.keys() == wrong.headers.keys()


NOW = datetime.now(UTC)
EXPIRED = datetime(2001, 1, 1, tzinfo=UTC)
# Marks as the create and delete services set them, with a running and with an expired lease.
HIDING_MARKS = {
    "creating": {"creating_since": NOW, "pending_since": NOW},
    "creating-expired": {"creating_since": EXPIRED, "pending_since": EXPIRED},
    "deleting": {"deleting_since": NOW, "pending_since": NOW},
    "deleting-expired": {"deleting_since": EXPIRED, "pending_since": EXPIRED},
}


@pytest.mark.parametrize("mark", list(HIDING_MARKS))
def test_login_hidden_organization_returns_401(acme: Tenant, master_db: Database, mark: str) -> None:
    master_db.organizations.update_one({}, {"$set": HIDING_MARKS[mark]})
    wrong = login(acme.email, "wrong-password")

    response = login(acme.email, acme.password)

    assert response.status == 401
    assert response.body == wrong.body
    assert response.headers.keys() == wrong.headers.keys()


def test_login_missing_organization_returns_401(acme: Tenant, master_db: Database) -> None:
    master_db.organizations.delete_many({})

    response = login(acme.email, acme.password)

    assert response.status == 401
    assert response.body == {"detail": "Invalid credentials"}


def test_login_hidden_organization_checks_password(
    acme: Tenant, master_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    master_db.organizations.update_one({}, {"$set": HIDING_MARKS["deleting"]})
    checked: list[bytes] = []
    original = bcrypt.checkpw

    def spy(password: bytes, hashed: bytes) -> bool:
        checked.append(hashed)
        return original(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", spy)

    assert login(acme.email, acme.password).status == 401
    assert len(checked) == 1


def test_login_during_rename_succeeds(acme: Tenant, master_db: Database) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    moving_from = {"database_name": master_db.name, "collection_name": "org_acme_earlier"}
    master_db.organizations.update_one({}, {"$set": {"moving_from": moving_from, "pending_since": since}})

    assert login(acme.email, acme.password).status == 200


def test_login_other_admins_password_fails(acme: Tenant) -> None:
    other = register("Globex", "admin@globex.example.com", "another-horse-42")

    assert login(acme.email, other.password).status == 401


@pytest.mark.parametrize(
    ("stored", "attempt"),
    [
        ("x" * 71 + "a", "x" * 71 + "b"),
        ("€" * 24, "€" * 23 + "¥"),
        ("x" * 72, "x" * 73),
        ("x" * 72, "x" * 72 + "€" * 300),
    ],
)
def test_login_never_truncates_password(service_env: dict[str, str], stored: str, attempt: str) -> None:
    tenant = register("Acme Corp", "admin@acme.example.com", stored)

    assert login(tenant.email, attempt).status == 401
    assert login(tenant.email, stored).status == 200


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        ({"password": "correct-horse-42"}, "'email' is missing"),
        ({"email": "admin@acme.example.com"}, "'password' is missing"),
        ({"email": "admin@acme.example.com", "password": ""}, "'password' must not be empty"),
        ({"email": "nope", "password": "correct-horse-42"}, "'email' is not a valid email address"),
        ({"email": {"$ne": None}, "password": "correct-horse-42"}, "'email' must be a string"),
        ({"email": {"$gt": ""}, "password": {"$ne": ""}}, "must be a string"),
        ({"email": "admin@acme.example.com", "password": {"$ne": None}}, "'password' must be a string"),
        ({"email": ["admin@acme.example.com"], "password": "correct-horse-42"}, "'email' must be a string"),
        ({"email": "admin@acme.example.com", "password": 12345678}, "'password' must be a string"),
        ({"email": "admin@acme.example.com", "password": "correct-horse-42", "mfa": "1"}, "'mfa'"),
        ([], "must be a JSON object"),
        ("admin@acme.example.com", "must be a JSON object"),
    ],
)
def test_login_invalid_body_returns_422(acme: Tenant, body: object, phrase: str) -> None:
    response = invoke("admin_login", method="POST", path="/org/admin/login", json_body=body)

    assert response.status == 422
    assert phrase in response.detail
    assert "access_token" not in response.body


def test_login_non_json_returns_422(acme: Tenant) -> None:
    response = invoke(
        "admin_login",
        method="POST",
        path="/org/admin/login",
        body="email=admin@acme.example.com&password=correct-horse-42",
        headers={"Content-Type": "application/json"},
    )

    assert response.status == 422
    assert "not valid JSON" in response.detail


def test_login_surrogate_password_returns_422(acme: Tenant) -> None:
    raw = f'{{"email": "{acme.email}", "password": "\\ud800correct-horse"}}'

    response = invoke(
        "admin_login", method="POST", path="/org/admin/login", body=raw, headers={"Content-Type": "application/json"}
    )

    assert response.status == 422
    assert "'password' contains an unpaired surrogate" in response.detail


def test_login_empty_body_returns_422(acme: Tenant) -> None:
    response = invoke(
        "admin_login", method="POST", path="/org/admin/login", body=None, headers={"Content-Type": "application/json"}
    )

    assert response.status == 422
    assert "The request body is missing" in response.detail


def test_login_fullwidth_email_finds_admin(service_env: dict[str, str]) -> None:
    tenant = register("Acme Corp", "user@h.example")

    response = login("ＵＳＥＲ@ｈ.example", tenant.password)

    assert response.status == 200


def test_login_long_email_states_create_limit(service_env: dict[str, str]) -> None:
    response = login("a" * 10_000 + "@h.example", "correct-horse-42")

    assert response.status == 422
    assert response.detail == "Invalid request. 'email' is too long; use at most 254 characters."
