"""Settings of the service, read once per container from the environment into one typed object.

The MongoDB URI and the JWT signing key come from AWS Secrets Manager or SSM Parameter Store when
MONGODB_URI_SECRET_ID and JWT_SECRET_ID are set (as template.yaml does), else from MONGODB_URI and
JWT_SECRET_KEY (local runs and tests). They are read at first use, not at import, so a missing
secret fails requests with a clear error instead of failing every cold start.

This module imports neither pydantic nor pymongo, so that the authorizer can read its settings
without paying for the web framework or the database driver at cold start.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

# HS256 keys shorter than the hash output weaken the signature (RFC 7518, section 3.2).
MIN_JWT_KEY_BYTES = 32

# Values of SECRET_STORE, the store that MONGODB_URI_SECRET_ID and JWT_SECRET_ID name a value in: a
# Secrets Manager secret (name or ARN), or an SSM Parameter Store parameter, usually a SecureString.
SECRETS_MANAGER = "secretsmanager"
SSM = "ssm"
SECRET_STORES = (SECRETS_MANAGER, SSM)


class ConfigurationError(RuntimeError):
    """A setting is missing or invalid, so the function cannot serve requests."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Typed view of the environment variables that configure every function."""

    mongodb_uri: str | None
    mongodb_uri_secret_id: str | None
    mongodb_database: str
    mongodb_timeout_ms: int
    mongodb_max_pool_size: int
    jwt_secret_key: str | None
    jwt_secret_id: str | None
    jwt_issuer: str
    jwt_audience: str
    jwt_expires_seconds: int
    jwt_leeway_seconds: int
    bcrypt_rounds: int
    secret_store: str
    secret_cache_seconds: int
    cors_allow_origin: str | None
    login_max_failures_per_email: int
    login_max_failures_per_ip: int
    login_failure_window_seconds: int


def _read_int(name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default

    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not an integer; set it to a whole number.") from None

    if not minimum <= value <= maximum:
        raise ConfigurationError(f"{name}={value} is out of range; set it between {minimum} and {maximum}.")
    return value


def _read_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or default


def _read_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (_read_str(name) or default).lower()
    if value not in choices:
        raise ConfigurationError(f"{name}={value!r} is not supported; set it to one of: {', '.join(choices)}.")
    return value


@functools.cache
def get_settings() -> Settings:
    """Read and validate the settings once; later calls return the same object."""
    return Settings(
        mongodb_uri=_read_str("MONGODB_URI"),
        mongodb_uri_secret_id=_read_str("MONGODB_URI_SECRET_ID"),
        mongodb_database=_read_str("MONGODB_DATABASE", "org_management"),
        mongodb_timeout_ms=_read_int("MONGODB_TIMEOUT_MS", 3000, minimum=100, maximum=60000),
        mongodb_max_pool_size=_read_int("MONGODB_MAX_POOL_SIZE", 2, minimum=1, maximum=100),
        jwt_secret_key=_read_str("JWT_SECRET_KEY"),
        jwt_secret_id=_read_str("JWT_SECRET_ID"),
        jwt_issuer=_read_str("JWT_ISSUER", "org-management-service"),
        jwt_audience=_read_str("JWT_AUDIENCE", "org-management-api"),
        jwt_expires_seconds=_read_int("JWT_EXPIRES_SECONDS", 3600, minimum=60, maximum=86400),
        jwt_leeway_seconds=_read_int("JWT_LEEWAY_SECONDS", 10, minimum=0, maximum=300),
        bcrypt_rounds=_read_int("BCRYPT_ROUNDS", 12, minimum=4, maximum=16),
        secret_store=_read_choice("SECRET_STORE", SECRETS_MANAGER, SECRET_STORES),
        secret_cache_seconds=_read_int("SECRET_CACHE_SECONDS", 300, minimum=0, maximum=86400),
        cors_allow_origin=_read_str("CORS_ALLOW_ORIGIN"),
        login_max_failures_per_email=_read_int("LOGIN_MAX_FAILURES_PER_EMAIL", 5, minimum=1, maximum=1000),
        login_max_failures_per_ip=_read_int("LOGIN_MAX_FAILURES_PER_IP", 50, minimum=1, maximum=100000),
        login_failure_window_seconds=_read_int("LOGIN_FAILURE_WINDOW_SECONDS", 900, minimum=60, maximum=86400),
    )


def fetch_secret(secret_id: str, max_age: int, store: str | None = None) -> str:
    """Read one secret from the configured store (SECRET_STORE when `store` is not given).

    Powertools Parameters caches each value for max_age seconds, so a warm container reads it from
    AWS at most once per max_age. A failed read is not cached: the request gets a clear error, and
    the next request tries again, so a secret created after the deploy needs no restart.
    """
    # Imported here because only functions with a secret id set need boto3, so local runs skip it.
    from aws_lambda_powertools.utilities import parameters

    store = store or get_settings().secret_store
    where = "AWS Secrets Manager" if store == SECRETS_MANAGER else "SSM Parameter Store"
    try:
        if store == SSM:
            value = parameters.get_parameter(secret_id, decrypt=True, max_age=max_age)
        else:
            value = parameters.get_secret(secret_id, max_age=max_age)
    except parameters.exceptions.GetParameterError as error:
        raise ConfigurationError(
            f"Reading {secret_id!r} from {where} failed ({error}); "
            "check that it exists and that the function's role may read it."
        ) from error

    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigurationError(
                f"Secret {secret_id!r} contains binary data that is not UTF-8; store the value as SecretString."
            ) from None
    return str(value)


def resolve_mongodb_uri(settings: Settings) -> str:
    """Return the MongoDB connection string, from the secret store when a secret id is set."""
    if settings.mongodb_uri_secret_id:
        return fetch_secret(settings.mongodb_uri_secret_id, settings.secret_cache_seconds, settings.secret_store)
    if settings.mongodb_uri:
        return settings.mongodb_uri
    raise ConfigurationError("MONGODB_URI is not set; set it or MONGODB_URI_SECRET_ID to reach MongoDB.")
