"""Handlers configured through AWS Secrets Manager (moto), and misconfigured ones."""

from __future__ import annotations

import secrets

import pytest
from orgservice.core import db
from orgservice.core.config import ConfigurationError, get_settings

from tests.integration.functions.invoke import authorize, create_organization, get_organization, login


def reload_settings() -> None:
    get_settings.cache_clear()
    db.reset()


@pytest.fixture
def secret_env(service_env: dict[str, str], secretsmanager, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Move the MongoDB URI and the JWT key from the environment into Secrets Manager."""
    key = secrets.token_urlsafe(48)
    secretsmanager.create_secret(Name="org/test/mongodb-uri", SecretString=service_env["MONGODB_URI"])
    secretsmanager.create_secret(Name="org/test/jwt-key", SecretString=key)
    monkeypatch.delenv("MONGODB_URI")
    monkeypatch.delenv("JWT_SECRET_KEY")
    monkeypatch.setenv("MONGODB_URI_SECRET_ID", "org/test/mongodb-uri")
    monkeypatch.setenv("JWT_SECRET_ID", "org/test/jwt-key")
    reload_settings()
    return {"jwt_key": key}


def test_secrets_configure_create_and_login(secret_env: dict[str, str]) -> None:
    assert create_organization("Acme Corp", "admin@acme.example.com").status == 201
    assert login("admin@acme.example.com", "correct-horse-42").status == 200


def test_secret_key_signs_and_verifies(secret_env: dict[str, str]) -> None:
    create_organization("Acme Corp", "admin@acme.example.com")
    token = login("admin@acme.example.com", "correct-horse-42").body["access_token"]

    response = authorize({"Authorization": f"Bearer {token}"})

    assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow"


@pytest.mark.parametrize("variable", ["MONGODB_URI_SECRET_ID", "JWT_SECRET_ID"])
def test_missing_secret_returns_500_json(
    secret_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    create_organization("Acme Corp", "admin@acme.example.com")
    monkeypatch.setenv(variable, "org/test/does-not-exist")
    reload_settings()

    response = login("admin@acme.example.com", "correct-horse-42")

    assert response.status == 500
    assert list(response.body) == ["detail"]
    assert response.detail.startswith("The service is misconfigured")
    assert "request id" in response.detail


def test_missing_jwt_secret_fails_authorizer(secret_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET_ID", "org/test/does-not-exist")
    reload_settings()

    with pytest.raises(Exception, match="org/test/does-not-exist"):
        authorize({"Authorization": "Bearer a.b.c"})


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BCRYPT_ROUNDS", "abc"),
        ("BCRYPT_ROUNDS", "3"),
        ("MONGODB_TIMEOUT_MS", "fast"),
        ("JWT_EXPIRES_SECONDS", "-1"),
    ],
)
def test_invalid_setting_returns_500_json(
    service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    reload_settings()

    response = get_organization("Acme Corp")

    assert response.status == 500
    assert list(response.body) == ["detail"]
    assert response.detail.startswith("The service is misconfigured")
    assert "request id" in response.detail


def test_short_jwt_key_returns_500_json(service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    create_organization("Acme Corp", "admin@acme.example.com")
    monkeypatch.setenv("JWT_SECRET_KEY", "too-short")
    reload_settings()

    response = login("admin@acme.example.com", "correct-horse-42")

    assert response.status == 500
    assert "too-short" not in repr(response.body)


def test_missing_mongodb_uri_returns_500_json(service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONGODB_URI")
    reload_settings()

    response = create_organization("Acme Corp", "admin@acme.example.com")

    assert response.status == 500
    assert list(response.body) == ["detail"]
    assert response.detail.startswith("The service is misconfigured")
    assert "request id" in response.detail


def test_secret_created_after_failure_serves_next_request(
    secret_env: dict[str, str], secretsmanager, service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONGODB_URI_SECRET_ID", "org/test/created-later")
    reload_settings()

    first = get_organization("Acme Corp")
    secretsmanager.create_secret(Name="org/test/created-later", SecretString=service_env["MONGODB_URI"])
    second = get_organization("Acme Corp")

    assert first.status == 500
    assert first.detail.startswith("The service is misconfigured")
    assert second.status == 404


def test_ssm_parameters_configure_create_login_and_authorizer(
    service_env: dict[str, str], ssm, monkeypatch: pytest.MonkeyPatch
) -> None:
    ssm.put_parameter(Name="/org/test/mongodb-uri", Value=service_env["MONGODB_URI"], Type="SecureString")
    ssm.put_parameter(Name="/org/test/jwt-key", Value=secrets.token_urlsafe(48), Type="SecureString")
    monkeypatch.delenv("MONGODB_URI")
    monkeypatch.delenv("JWT_SECRET_KEY")
    monkeypatch.setenv("SECRET_STORE", "ssm")
    monkeypatch.setenv("MONGODB_URI_SECRET_ID", "/org/test/mongodb-uri")
    monkeypatch.setenv("JWT_SECRET_ID", "/org/test/jwt-key")
    reload_settings()

    assert create_organization("Acme Corp", "admin@acme.example.com").status == 201
    token = login("admin@acme.example.com", "correct-horse-42").body["access_token"]
    response = authorize({"Authorization": f"Bearer {token}"})

    assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def test_authorizer_missing_key_fails_until_created(
    secret_env: dict[str, str], secretsmanager, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_organization("Acme Corp", "admin@acme.example.com")
    token = login("admin@acme.example.com", "correct-horse-42").body["access_token"]
    monkeypatch.setenv("JWT_SECRET_ID", "org/test/jwt-key-later")
    reload_settings()

    with pytest.raises(ConfigurationError, match="'org/test/jwt-key-later'"):
        authorize({"Authorization": f"Bearer {token}"})
    secretsmanager.create_secret(Name="org/test/jwt-key-later", SecretString=secret_env["jwt_key"])
    response = authorize({"Authorization": f"Bearer {token}"})

    assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow"
