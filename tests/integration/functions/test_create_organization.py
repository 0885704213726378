"""POST /org/create through the handler, checked against what MongoDB contains afterwards."""

from __future__ import annotations

import re
from datetime import datetime

import bcrypt
import pytest
from bson import ObjectId
from pymongo.database import Database

from tests.integration.functions.invoke import (
    DEFAULT_PASSWORD,
    Tenant,
    create_organization,
    invoke,
    login,
    register,
    run_concurrently,
)

COLLECTION_PATTERN = re.compile(r"org_[a-z0-9]+(_[a-z0-9]+)*")

# 0xC3 opens a two-byte UTF-8 sequence, and 0x28 cannot continue it.
INVALID_UTF8 = b'{"organization_name": "\xc3\x28"}'
DEEP_ARRAY = "[" * 100_000 + "]" * 100_000


def tenant_collections(database: Database) -> list[str]:
    return sorted(name for name in database.list_collection_names() if name.startswith("org_"))


def test_create_returns_201_with_organization(service_env: dict[str, str]) -> None:
    response = create_organization("Acme Corp", "admin@acme.example.com")

    assert response.status == 201
    assert response.body["message"] == "Organization created successfully"
    assert response.body.keys() == {"message", "organization", "admin_id"}
    assert response.body["organization"].keys() == {
        "id",
        "organization_name",
        "collection_name",
        "admin_email",
        "created_at",
        "updated_at",
    }
    assert response.body["organization"]["organization_name"] == "Acme Corp"
    assert response.body["organization"]["collection_name"] == "org_acme_corp"
    assert response.body["organization"]["admin_email"] == "admin@acme.example.com"


def test_create_stores_organization_document(master_db: Database) -> None:
    response = create_organization("Acme Corp", "admin@acme.example.com")
    organization = response.body["organization"]

    document = master_db.organizations.find_one({"_id": ObjectId(organization["id"])})

    assert document["organization_name"] == "Acme Corp"
    assert document["slug"] == "acme_corp"
    assert document["collection_name"] == "org_acme_corp"
    assert document["created_at"] == datetime.fromisoformat(organization["created_at"])
    assert document["updated_at"] == datetime.fromisoformat(organization["updated_at"])


def test_create_makes_tenant_collection(master_db: Database) -> None:
    create_organization("Acme Corp", "admin@acme.example.com")

    assert tenant_collections(master_db) == ["org_acme_corp"]


def test_create_stores_only_password_hash(master_db: Database) -> None:
    response = create_organization("Acme Corp", "admin@acme.example.com", DEFAULT_PASSWORD)

    admin = master_db.admins.find_one({"_id": ObjectId(response.body["admin_id"])})

    assert admin.keys() == {
        "_id",
        "organization_id",
        "email",
        "password_hash",
        "created_at",
        "updated_at",
        "token_version",
    }
    assert str(admin["organization_id"]) == response.body["organization"]["id"]
    assert bytes(admin["password_hash"]).startswith(b"$2b$")
    assert bcrypt.checkpw(DEFAULT_PASSWORD.encode(), bytes(admin["password_hash"]))
    assert DEFAULT_PASSWORD not in repr(admin)


def test_create_keeps_password_out_of_response(service_env: dict[str, str]) -> None:
    response = create_organization("Acme Corp", "admin@acme.example.com", DEFAULT_PASSWORD)

    assert DEFAULT_PASSWORD not in repr(response.body)


def test_create_nul_password_rejected(master_db: Database) -> None:
    # bcrypt stops at a NUL byte, so "\x00" * 8 and "\x00" * 9 would log in to the same admin.
    response = create_organization("Nul Corp", "admin@nul.example.com", "\x00" * 8)

    assert response.status == 422
    assert "password" in response.detail
    assert "U+0000" in response.detail
    assert master_db["organizations"].count_documents({}) == 0


def test_create_lowercases_admin_email(master_db: Database) -> None:
    response = create_organization("Acme Corp", "Admin@ACME.Example.COM")

    assert response.body["organization"]["admin_email"] == "admin@acme.example.com"
    assert master_db.admins.find_one()["email"] == "admin@acme.example.com"


@pytest.mark.parametrize("name", ["Acme Corp", "acme_corp", "ACME-corp", "  acme   CORP ", "Acmé Corp"])
def test_create_same_slug_conflicts(acme: Tenant, master_db: Database, name: str) -> None:
    response = create_organization(name, "other@example.com")

    assert response.status == 409
    assert "already exists" in response.detail
    assert master_db.organizations.count_documents({}) == 1
    assert master_db.admins.count_documents({}) == 1


@pytest.mark.parametrize("email", ["admin@acme.example.com", "ADMIN@acme.example.com", "Admin@Acme.Example.Com"])
def test_create_taken_email_conflicts(acme: Tenant, master_db: Database, email: str) -> None:
    response = create_organization("Globex", email)

    assert response.status == 409
    assert "already exists" in response.detail
    assert master_db.organizations.count_documents({}) == 1
    assert tenant_collections(master_db) == ["org_acme_corp"]


def test_create_email_conflict_frees_name(acme: Tenant) -> None:
    create_organization("Globex", acme.email)

    assert create_organization("Globex", "admin@globex.example.com").status == 201


def test_slug_conflict_names_stored_organization(acme: Tenant) -> None:
    detail = create_organization("acme.corp", "other@example.com").detail

    assert "'Acme Corp' already exists" in detail
    assert "'acme.corp'" in detail
    assert "'acme_corp'" in detail


def test_conflict_detail_names_value(acme: Tenant) -> None:
    assert "'Acme Corp'" in create_organization("Acme Corp", "other@example.com").detail
    assert f"'{acme.email}'" in create_organization("Globex", acme.email).detail


@pytest.mark.parametrize(
    ("name", "collection"),
    [
        ("système", "org_systeme"),
        ("a.b", "org_a_b"),
        ("$set", "org_set"),
        ("system.users", "org_system_users"),
        ("admin.$cmd", "org_admin_cmd"),
        ("😀 ab 😀", "org_ab"),
        ("../../etc", "org_etc"),
        ("  Acme  ", "org_acme"),
        ("Ⅻ Corp", "org_xii_corp"),
    ],
)
def test_create_hostile_name_gets_safe_collection(master_db: Database, name: str, collection: str) -> None:
    response = create_organization(name, "admin@example.com")

    assert response.status == 201
    assert response.body["organization"]["collection_name"] == collection
    assert COLLECTION_PATTERN.fullmatch(collection)
    assert tenant_collections(master_db) == [collection]


@pytest.mark.parametrize(
    ("name", "phrase"),
    [
        ("x\u0000y", "control characters"),
        ("a\nb", "control characters"),
        ("Sur \ud800 gate", "unpaired surrogates"),
        ("Paypal\u202e", "format characters"),
        ("😀", "no ASCII letters or digits"),
        ("名前", "no ASCII letters or digits"),
        ("..", "no ASCII letters or digits"),
        ("   ", "must not be empty"),
        ("", "must not be empty"),
        ("a", "at least 2"),
        ("a" * 61, "fit in 60 characters"),
        ("a" * 101, "at most 100"),
        ("a" * 5000, "organization_name"),
    ],
)
def test_create_invalid_name_returns_422(master_db: Database, name: str, phrase: str) -> None:
    response = create_organization(name, "admin@example.com")

    assert response.status == 422
    assert "'organization_name'" in response.detail
    assert phrase in response.detail
    assert master_db.organizations.count_documents({}) == 0
    assert tenant_collections(master_db) == []


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        ({"email": "admin@example.com", "password": DEFAULT_PASSWORD}, "'organization_name' is missing"),
        ({"organization_name": "Acme", "password": DEFAULT_PASSWORD}, "'email' is missing"),
        ({"organization_name": "Acme", "email": "admin@example.com"}, "'password' is missing"),
        ({"organization_name": "Acme", "email": "nope", "password": DEFAULT_PASSWORD}, "'email' is not a valid"),
        ({"organization_name": "Acme", "email": "admin@example.com", "password": "short"}, "at least 8 characters"),
        ({"organization_name": "Acme", "email": "admin@example.com", "password": "€" * 25}, "75 bytes"),
        ({"organization_name": "Acme", "email": {"$ne": None}, "password": "x" * 8}, "'email' must be a string"),
        ({"organization_name": {"$gt": ""}, "email": "a@example.com", "password": "x" * 8}, "must be a string"),
        ({"organization_name": ["Acme"], "email": "a@example.com", "password": DEFAULT_PASSWORD}, "must be a string"),
        ({"organization_name": "Acme", "email": "a@example.com", "password": 12345678}, "'password' must be a string"),
        ({"organization_name": "Acme", "email": "a@example.com", "password": None}, "'password' must be a string"),
        ({"organization_name": "Acme", "email": "a@example.com", "password": "x" * 8, "admin": True}, "'admin'"),
        ([], "must be a JSON object"),
        ([{"organization_name": "Acme"}], "must be a JSON object"),
        (42, "must be a JSON object"),
        (None, "must be a JSON object"),
        ("Acme", "must be a JSON object"),
    ],
)
def test_create_invalid_body_returns_422(master_db: Database, body: object, phrase: str) -> None:
    response = invoke("create_organization", method="POST", path="/org/create", json_body=body)

    assert response.status == 422
    assert phrase in response.detail
    assert master_db.organizations.count_documents({}) == 0
    assert master_db.admins.count_documents({}) == 0


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        ("{", "not valid JSON"),
        ("{'organization_name': 'Acme'}", "not valid JSON"),
        ('{"organization_name": "Acme", "email": "a@example.com", "password": NaN}', "'password' must be a string"),
        (None, "The request body is missing"),
        ("", "The request body is missing"),
    ],
)
def test_create_unparsable_body_returns_422(master_db: Database, raw: str | None, phrase: str) -> None:
    response = invoke(
        "create_organization", method="POST", path="/org/create", body=raw, headers={"Content-Type": "application/json"}
    )

    assert response.status == 422
    assert phrase in response.detail


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(DEEP_ARRAY, id="array"),
        pytest.param("[" * 100_000 + "]" * 100_000, id="100k-arrays"),
        pytest.param('{"a": ' * 100_000 + "1" + "}" * 100_000, id="object"),
    ],
)
def test_create_deeply_nested_body_names_depth(master_db: Database, raw: str) -> None:
    response = invoke(
        "create_organization", method="POST", path="/org/create", body=raw, headers={"Content-Type": "application/json"}
    )

    assert response.status == 422
    assert "nests arrays or objects too deeply" in response.detail
    assert "not valid JSON" not in response.detail


@pytest.mark.parametrize("raw", ['"str"', "42", "null", "[]", "true"])
def test_create_json_non_object_omits_header_hint(master_db: Database, raw: str) -> None:
    response = invoke(
        "create_organization", method="POST", path="/org/create", body=raw, headers={"Content-Type": "application/json"}
    )

    assert response.status == 422
    assert "must be a JSON object" in response.detail
    assert "Content-Type" not in response.detail


@pytest.mark.parametrize("headers", [None, {"Content-Type": "text/plain"}], ids=["missing", "text-plain"])
def test_create_without_json_content_type_names_header(master_db: Database, headers: dict[str, str] | None) -> None:
    raw = '{"organization_name": "Acme", "email": "a@example.com", "password": "correct-horse-42"}'

    response = invoke("create_organization", method="POST", path="/org/create", body=raw, headers=headers)

    assert response.status == 422
    assert "sent with 'Content-Type: application/json'" in response.detail
    assert master_db.organizations.count_documents({}) == 0


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(INVALID_UTF8, id="invalid-utf8"),
        pytest.param(DEEP_ARRAY, id="deeply-nested-array"),
        pytest.param('{"a": ' * 5000 + "1" + "}" * 5000, id="deeply-nested-object"),
    ],
)
def test_create_hostile_body_never_5xx(master_db: Database, raw: str | bytes) -> None:
    response = invoke(
        "create_organization", method="POST", path="/org/create", body=raw, headers={"Content-Type": "application/json"}
    )

    assert 400 <= response.status < 500
    assert isinstance(response.detail, str)
    assert master_db.organizations.count_documents({}) == 0


@pytest.mark.parametrize(
    "raw", [pytest.param(INVALID_UTF8, id="invalid-utf8"), pytest.param(DEEP_ARRAY, id="deeply-nested-array")]
)
def test_create_undecodable_body_returns_422(service_env: dict[str, str], raw: str | bytes) -> None:
    response = invoke(
        "create_organization", method="POST", path="/org/create", body=raw, headers={"Content-Type": "application/json"}
    )

    assert response.status == 422
    assert "JSON" in response.detail


@pytest.mark.parametrize(
    "headers", [None, {"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}]
)
def test_create_without_json_type_names_header(master_db: Database, headers: dict[str, str] | None) -> None:
    body = '{"organization_name": "Acme", "email": "a@example.com", "password": "correct-horse-42"}'

    response = invoke("create_organization", method="POST", path="/org/create", body=body, headers=headers)

    assert response.status == 422
    assert "Content-Type: application/json" in response.detail
    assert master_db.organizations.count_documents({}) == 0


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/merge-patch+json"])
def test_create_accepts_json_content_types(service_env: dict[str, str], content_type: str) -> None:
    body = '{"organization_name": "Acme", "email": "a@example.com", "password": "correct-horse-42"}'

    response = invoke(
        "create_organization", method="POST", path="/org/create", body=body, headers={"Content-Type": content_type}
    )

    assert response.status == 201


@pytest.mark.parametrize("password", ["€" * 24, "a" * 72, "€" * 8, "pass\tword"])
def test_create_accepts_password_within_limits(service_env: dict[str, str], password: str) -> None:
    tenant = register("Acme Corp", "admin@acme.example.com", password)

    assert login(tenant.email, password).status == 200


def test_create_rejects_surrogate_password(master_db: Database) -> None:
    raw = '{"organization_name": "Acme", "email": "a@example.com", "password": "\\ud800correct-horse"}'

    response = invoke(
        "create_organization", method="POST", path="/org/create", body=raw, headers={"Content-Type": "application/json"}
    )

    assert response.status == 422
    assert "'password' contains an unpaired surrogate" in response.detail
    assert master_db.organizations.count_documents({}) == 0


def test_create_rejects_password_over_72_bytes(master_db: Database) -> None:
    response = create_organization("Acme Corp", "admin@acme.example.com", "€" * 25)

    assert response.status == 422
    assert "75 bytes" in response.detail
    assert "72 bytes" in response.detail
    assert "bcrypt" in response.detail
    assert master_db.admins.count_documents({}) == 0


def test_parallel_creates_of_one_name(master_db: Database) -> None:
    calls = [lambda i=i: create_organization("Race Corp", f"admin{i}@example.com") for i in range(8)]

    statuses = sorted(response.status for response in run_concurrently(calls))

    assert statuses == [201] + [409] * 7
    assert master_db.organizations.count_documents({}) == 1
    assert master_db.admins.count_documents({}) == 1
    assert tenant_collections(master_db) == ["org_race_corp"]


def test_parallel_creates_of_one_slug(master_db: Database) -> None:
    names = ["Race Corp", "race_corp", "RACE-CORP", "race corp", "Race  Corp", "rAcE cOrP", "Racé Corp", "race--corp"]
    calls = [lambda i=i, name=name: create_organization(name, f"admin{i}@example.com") for i, name in enumerate(names)]

    statuses = sorted(response.status for response in run_concurrently(calls))

    assert statuses == [201] + [409] * 7
    assert master_db.organizations.count_documents({}) == 1
    assert tenant_collections(master_db) == ["org_race_corp"]


def test_parallel_creates_of_one_email(master_db: Database) -> None:
    calls = [lambda i=i: create_organization(f"Race {i}", "same@example.com") for i in range(8)]

    responses = run_concurrently(calls)

    assert sorted(response.status for response in responses) == [201] + [409] * 7
    assert master_db.organizations.count_documents({}) == 1
    assert master_db.admins.count_documents({}) == 1
    winner = next(response for response in responses if response.status == 201)
    assert tenant_collections(master_db) == [winner.body["organization"]["collection_name"]]


def test_create_fullwidth_email_collides(master_db: Database) -> None:
    register("Acme Corp", "user@h.example")

    response = create_organization("Globex", "ＵＳＥＲ@h.example")

    assert response.status == 409
    assert master_db.admins.count_documents({}) == 1
