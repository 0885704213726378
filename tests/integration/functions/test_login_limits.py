"""Brute-force protection of POST /org/admin/login: failures counted per email and per source address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import bcrypt
import pytest
from orgservice.core.config import get_settings
from pymongo.database import Database

from tests.integration.functions.invoke import Tenant, login

EMAIL_LIMIT = 3
IP_LIMIT = 5
WINDOW_SECONDS = 600


@pytest.fixture(autouse=True)
def limits(service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGIN_MAX_FAILURES_PER_EMAIL", str(EMAIL_LIMIT))
    monkeypatch.setenv("LOGIN_MAX_FAILURES_PER_IP", str(IP_LIMIT))
    monkeypatch.setenv("LOGIN_FAILURE_WINDOW_SECONDS", str(WINDOW_SECONDS))
    get_settings.cache_clear()


def fail_logins(email: str, count: int, *, source_ip: str = "127.0.0.1") -> None:
    for _ in range(count):
        assert login(email, "wrong-password", source_ip=source_ip).status == 401


def test_login_locked_after_email_limit(acme: Tenant) -> None:
    fail_logins(acme.email, EMAIL_LIMIT)

    response = login(acme.email, acme.password)

    assert response.status == 429
    assert "Too many failed logins" in response.detail
    assert "access_token" not in response.body


def test_login_lock_sets_retry_after(acme: Tenant) -> None:
    fail_logins(acme.email, EMAIL_LIMIT)

    response = login(acme.email, acme.password)

    retry_after = int(response.headers["retry-after"])
    assert 0 < retry_after <= WINDOW_SECONDS
    assert f"retry after {retry_after} seconds" in response.detail


def test_login_lock_skips_password_check(acme: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    fail_logins(acme.email, EMAIL_LIMIT)
    checked: list[bytes] = []
    original = bcrypt.checkpw

    def spy(password: bytes, hashed: bytes) -> bool:
        checked.append(hashed)
        return original(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", spy)

    assert login(acme.email, acme.password).status == 429
    assert checked == []


def test_login_lock_ignores_email_case(acme: Tenant) -> None:
    fail_logins(acme.email.upper(), EMAIL_LIMIT)

    assert login(acme.email, acme.password).status == 429


def test_login_below_limit_still_works(acme: Tenant) -> None:
    fail_logins(acme.email, EMAIL_LIMIT - 1)

    assert login(acme.email, acme.password).status == 200


def test_login_success_resets_email_counter(acme: Tenant) -> None:
    fail_logins(acme.email, EMAIL_LIMIT - 1)
    assert login(acme.email, acme.password).status == 200

    fail_logins(acme.email, EMAIL_LIMIT - 1)

    assert login(acme.email, acme.password).status == 200


def test_login_hidden_organization_counts_as_failure(acme: Tenant, master_db: Database) -> None:
    now = datetime.now(UTC)
    master_db.organizations.update_one({}, {"$set": {"creating_since": now, "pending_since": now}})
    for _ in range(EMAIL_LIMIT):
        assert login(acme.email, acme.password).status == 401

    master_db.organizations.update_one({}, {"$unset": {"creating_since": "", "pending_since": ""}})

    assert login(acme.email, acme.password).status == 429


def test_login_unknown_email_locks_alike(acme: Tenant) -> None:
    unknown = "nobody@acme.example.com"
    fail_logins(unknown, EMAIL_LIMIT)
    fail_logins(acme.email, EMAIL_LIMIT, source_ip="192.0.2.10")

    locked_unknown = login(unknown, "wrong-password")
    locked_known = login(acme.email, "wrong-password", source_ip="192.0.2.10")

    assert locked_unknown.status == locked_known.status == 429
    assert locked_unknown.body == locked_known.body


def test_login_lock_is_per_email(acme: Tenant, globex: Tenant) -> None:
    fail_logins(acme.email, EMAIL_LIMIT)

    assert login(globex.email, globex.password).status == 200


def test_login_locked_after_ip_limit(acme: Tenant) -> None:
    for number in range(IP_LIMIT):
        fail_logins(f"guess{number}@acme.example.com", 1, source_ip="198.51.100.7")

    assert login(acme.email, acme.password, source_ip="198.51.100.7").status == 429
    assert login(acme.email, acme.password, source_ip="198.51.100.8").status == 200


def test_login_success_keeps_ip_counter(acme: Tenant) -> None:
    for number in range(IP_LIMIT - 1):
        fail_logins(f"guess{number}@acme.example.com", 1, source_ip="198.51.100.7")
    assert login(acme.email, acme.password, source_ip="198.51.100.7").status == 200

    fail_logins("guess-last@acme.example.com", 1, source_ip="198.51.100.7")

    assert login(acme.email, acme.password, source_ip="198.51.100.7").status == 429


def test_login_lock_ends_with_window(acme: Tenant, master_db: Database) -> None:
    fail_logins(acme.email, EMAIL_LIMIT)
    past = datetime.now(UTC) - timedelta(seconds=1)

    # Moving the window's end into the past replaces waiting for it, and the TTL monitor may lag a minute.
    master_db.login_attempts.update_many({}, {"$set": {"expires_at": past}})

    assert login(acme.email, acme.password).status == 200


def test_login_failure_after_window_starts_new_count(acme: Tenant, master_db: Database) -> None:
    fail_logins(acme.email, EMAIL_LIMIT)
    master_db.login_attempts.update_many({}, {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}})

    fail_logins(acme.email, 1)

    counter = master_db.login_attempts.find_one({"_id": f"email:{acme.email}"})
    assert counter["failures"] == 1
    assert counter["expires_at"] > datetime.now(UTC)


def test_login_counters_have_ttl_index(acme: Tenant, master_db: Database) -> None:
    fail_logins(acme.email, 1)

    indexes = master_db.login_attempts.index_information()

    assert indexes["expires_at_ttl"]["expireAfterSeconds"] == 0
    assert indexes["expires_at_ttl"]["key"] == [("expires_at", 1)]


def test_login_counters_store_no_password(acme: Tenant, master_db: Database) -> None:
    fail_logins(acme.email, 1)

    for document in master_db.login_attempts.find():
        assert set(document) == {"_id", "failures", "expires_at"}
        assert "wrong-password" not in repr(document)
