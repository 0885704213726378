"""Settings from the environment, and the MongoDB URI and JWT key from env or AWS Secrets Manager (moto)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from orgservice.core.config import ConfigurationError, Settings, get_settings, resolve_mongodb_uri
from orgservice.core.keys import load_key_ring

def resolve_jwt_key(settings: Settings) -> str:
    """The key that signs new tokens."""
    return load_key_ring(settings).current.secret


SETTING_VARIABLES = [
    "MONGODB_URI",
    "MONGODB_URI_SECRET_ID",
    "MONGODB_DATABASE",
    "MONGODB_TIMEOUT_MS",
    "MONGODB_MAX_POOL_SIZE",
    "JWT_SECRET_KEY",
    "JWT_SECRET_ID",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_EXPIRES_SECONDS",
    "JWT_LEEWAY_SECONDS",
    "BCRYPT_ROUNDS",
    "SECRET_STORE",
    "SECRET_CACHE_SECONDS",
    "LOGIN_MAX_FAILURES_PER_EMAIL",
    "LOGIN_MAX_FAILURES_PER_IP",
    "LOGIN_FAILURE_WINDOW_SECONDS",
]

INTEGER_VARIABLES = [
    ("MONGODB_TIMEOUT_MS", 100, 60000),
    ("MONGODB_MAX_POOL_SIZE", 1, 100),
    ("JWT_EXPIRES_SECONDS", 60, 86400),
    ("JWT_LEEWAY_SECONDS", 0, 300),
    ("BCRYPT_ROUNDS", 4, 16),
    ("SECRET_CACHE_SECONDS", 0, 86400),
    ("LOGIN_MAX_FAILURES_PER_EMAIL", 1, 1000),
    ("LOGIN_MAX_FAILURES_PER_IP", 1, 100000),
    ("LOGIN_FAILURE_WINDOW_SECONDS", 60, 86400),
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in SETTING_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_settings_defaults_apply() -> None:
    settings = get_settings()

    assert settings.mongodb_database == "org_management"
    assert settings.mongodb_timeout_ms == 3000
    assert settings.mongodb_max_pool_size == 2
    assert settings.jwt_issuer == "org-management-service"
    assert settings.jwt_audience == "org-management-api"
    assert settings.jwt_expires_seconds == 3600
    assert settings.jwt_leeway_seconds == 10
    assert settings.bcrypt_rounds == 12
    assert settings.secret_cache_seconds == 300
    assert settings.login_max_failures_per_email == 5
    assert settings.login_max_failures_per_ip == 50
    assert settings.login_failure_window_seconds == 900


def test_settings_read_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGODB_DATABASE", " tenants ")
    monkeypatch.setenv("BCRYPT_ROUNDS", "10")

    settings = get_settings()

    assert settings.mongodb_database == "tenants"
    assert settings.bcrypt_rounds == 10


def test_settings_blank_value_uses_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BCRYPT_ROUNDS", "  ")

    assert get_settings().bcrypt_rounds == 12


def test_settings_cached_until_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_settings()
    monkeypatch.setenv("BCRYPT_ROUNDS", "5")

    assert get_settings() is first
    get_settings.cache_clear()
    assert get_settings().bcrypt_rounds == 5


@pytest.mark.parametrize(("name", "_minimum", "_maximum"), INTEGER_VARIABLES)
@pytest.mark.parametrize("raw", ["abc", "1.5", "12abc", "0x10"])
def test_settings_reject_non_integer(
    monkeypatch: pytest.MonkeyPatch, name: str, _minimum: int, _maximum: int, raw: str
) -> None:
    monkeypatch.setenv(name, raw)

    with pytest.raises(ConfigurationError, match=f"{name}='{raw}' is not an integer"):
        get_settings()


@pytest.mark.parametrize(("name", "minimum", "maximum"), INTEGER_VARIABLES)
@pytest.mark.parametrize("offset", [-1, 1])
def test_settings_reject_out_of_range(
    monkeypatch: pytest.MonkeyPatch, name: str, minimum: int, maximum: int, offset: int
) -> None:
    value = minimum - 1 if offset < 0 else maximum + 1
    monkeypatch.setenv(name, str(value))

    message = f"{name}={value} is out of range; set it between {minimum} and {maximum}"
    with pytest.raises(ConfigurationError, match=message):
        get_settings()


@pytest.mark.parametrize(("name", "minimum", "maximum"), INTEGER_VARIABLES)
def test_settings_accept_range_ends(monkeypatch: pytest.MonkeyPatch, name: str, minimum: int, maximum: int) -> None:
    for value in (minimum, maximum):
        monkeypatch.setenv(name, str(value))
        get_settings.cache_clear()

        assert getattr(get_settings(), name.lower()) == value


def test_mongodb_uri_read_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:27017/")

    assert resolve_mongodb_uri(get_settings()) == "mongodb://127.0.0.1:27017/"


def test_mongodb_uri_missing_names_variables() -> None:
    with pytest.raises(ConfigurationError, match="MONGODB_URI is not set; set it or MONGODB_URI_SECRET_ID"):
        resolve_mongodb_uri(get_settings())


def test_mongodb_uri_read_from_secret(monkeypatch: pytest.MonkeyPatch, secretsmanager) -> None:
    secretsmanager.create_secret(Name="org/mongodb-uri", SecretString="mongodb://127.0.0.1:27018/")
    monkeypatch.setenv("MONGODB_URI_SECRET_ID", "org/mongodb-uri")

    assert resolve_mongodb_uri(get_settings()) == "mongodb://127.0.0.1:27018/"


def test_mongodb_uri_secret_overrides_environment(monkeypatch: pytest.MonkeyPatch, secretsmanager) -> None:
    secretsmanager.create_secret(Name="org/mongodb-uri", SecretString="mongodb://127.0.0.1:27018/")
    monkeypatch.setenv("MONGODB_URI_SECRET_ID", "org/mongodb-uri")
    monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:27017/")

    assert resolve_mongodb_uri(get_settings()) == "mongodb://127.0.0.1:27018/"


def test_missing_secret_names_secret_id(monkeypatch: pytest.MonkeyPatch, secretsmanager) -> None:
    monkeypatch.setenv("MONGODB_URI_SECRET_ID", "org/does-not-exist")

    with pytest.raises(ConfigurationError) as caught:
        resolve_mongodb_uri(get_settings())

    assert "'org/does-not-exist'" in str(caught.value)
    assert "check that it exists" in str(caught.value)


def test_secret_reread_when_cache_disabled(monkeypatch: pytest.MonkeyPatch, secretsmanager) -> None:
    secretsmanager.create_secret(Name="org/jwt-key", SecretString="a" * 48)
    monkeypatch.setenv("JWT_SECRET_ID", "org/jwt-key")
    monkeypatch.setenv("SECRET_CACHE_SECONDS", "0")
    resolve_jwt_key(get_settings())

    secretsmanager.put_secret_value(SecretId="org/jwt-key", SecretString="b" * 48)

    assert resolve_jwt_key(get_settings()) == "b" * 48


def test_secret_cached_within_max_age(monkeypatch: pytest.MonkeyPatch, secretsmanager) -> None:
    secretsmanager.create_secret(Name="org/jwt-key", SecretString="a" * 48)
    monkeypatch.setenv("JWT_SECRET_ID", "org/jwt-key")
    monkeypatch.setenv("SECRET_CACHE_SECONDS", "300")
    resolve_jwt_key(get_settings())

    secretsmanager.put_secret_value(SecretId="org/jwt-key", SecretString="b" * 48)

    assert resolve_jwt_key(get_settings()) == "a" * 48


def test_binary_secret_never_used_as_repr(monkeypatch: pytest.MonkeyPatch, secretsmanager) -> None:
    secret = "s" * 48
    secretsmanager.create_secret(Name="org/jwt-key", SecretBinary=secret.encode("utf-8"))
    monkeypatch.setenv("JWT_SECRET_ID", "org/jwt-key")

    try:
        key = resolve_jwt_key(get_settings())
    except ConfigurationError:
        return  # Rejecting a binary secret with a clear message is also correct.

    assert key == secret


def test_secret_store_defaults_to_secrets_manager() -> None:
    assert get_settings().secret_store == "secretsmanager"


def test_secret_store_rejects_unknown_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_STORE", "vault")

    with pytest.raises(ConfigurationError, match="SECRET_STORE='vault' is not supported; set it to one of"):
        get_settings()


def test_mongodb_uri_read_from_ssm_parameter(monkeypatch: pytest.MonkeyPatch, ssm) -> None:
    ssm.put_parameter(Name="/org/test/mongodb-uri", Value="mongodb://127.0.0.1:27019/", Type="SecureString")
    monkeypatch.setenv("SECRET_STORE", "ssm")
    monkeypatch.setenv("MONGODB_URI_SECRET_ID", "/org/test/mongodb-uri")

    assert resolve_mongodb_uri(get_settings()) == "mongodb://127.0.0.1:27019/"


def test_jwt_key_read_from_ssm_parameter(monkeypatch: pytest.MonkeyPatch, ssm) -> None:
    ssm.put_parameter(Name="/org/test/jwt-key", Value="p" * 48, Type="SecureString")
    monkeypatch.setenv("SECRET_STORE", "SSM")
    monkeypatch.setenv("JWT_SECRET_ID", "/org/test/jwt-key")

    assert resolve_jwt_key(get_settings()) == "p" * 48


def test_secret_read_by_full_arn(monkeypatch: pytest.MonkeyPatch, secretsmanager) -> None:
    arn = secretsmanager.create_secret(Name="org/mongodb-uri", SecretString="mongodb://127.0.0.1:27018/")["ARN"]
    monkeypatch.setenv("MONGODB_URI_SECRET_ID", arn)

    assert resolve_mongodb_uri(get_settings()) == "mongodb://127.0.0.1:27018/"


@pytest.mark.parametrize(
    ("variable", "resolve"),
    [("MONGODB_URI_SECRET_ID", resolve_mongodb_uri), ("JWT_SECRET_ID", resolve_jwt_key)],
)
def test_missing_ssm_parameter_names_parameter(monkeypatch: pytest.MonkeyPatch, ssm, variable, resolve) -> None:
    monkeypatch.setenv("SECRET_STORE", "ssm")
    monkeypatch.setenv(variable, "/org/does-not-exist")

    with pytest.raises(ConfigurationError) as caught:
        resolve(get_settings())

    assert "'/org/does-not-exist' from SSM Parameter Store failed" in str(caught.value)
    assert "check that it exists" in str(caught.value)


def test_missing_secret_read_again_once_created(monkeypatch: pytest.MonkeyPatch, secretsmanager) -> None:
    monkeypatch.setenv("JWT_SECRET_ID", "org/jwt-key")
    with pytest.raises(ConfigurationError):
        resolve_jwt_key(get_settings())

    secretsmanager.create_secret(Name="org/jwt-key", SecretString="n" * 48)

    assert resolve_jwt_key(get_settings()) == "n" * 48
