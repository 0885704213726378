"""The JWT signing keys: the current one signs, the current and the previous one verify.

In AWS the keys are the AWSCURRENT and AWSPREVIOUS versions of the Secrets Manager secret
JWT_SECRET_ID, read through Powertools Parameters and cached for SECRET_CACHE_SECONDS. After a
rotation, tokens signed with the earlier key name it in their `kid` header and keep verifying
until they expire, while new tokens use the new key. Locally the one key is JWT_SECRET_KEY.

Only the standard library and, in AWS, Powertools are imported, so the authorizer stays small.
"""

from __future__ import annotations

import functools
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from orgservice.core.config import SSM, MIN_JWT_KEY_BYTES, ConfigurationError, Settings, fetch_secret

CURRENT_STAGE = "AWSCURRENT"
PREVIOUS_STAGE = "AWSPREVIOUS"

# One Powertools provider per version stage, because a provider caches by secret name alone.
_providers: dict[str, Any] = {}
# Secret ids without an AWSPREVIOUS version, until the monotonic time stored, so a secret that was
# never rotated costs no Secrets Manager call per request.
_previous_absent_until: dict[str, float] = {}

# A token can name a key that this container has not read yet, because another container read the
# rotated secret first. A forced re-read then runs at most once per this many seconds in each
# container, so tokens with made-up key ids cost at most one Secrets Manager call per interval.
FORCED_REFRESH_INTERVAL_SECONDS = 30
_last_forced_refresh: dict[str, float] = {}


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One HMAC key and the id that tokens signed with it carry in their `kid` header."""

    kid: str
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The key that signs new tokens and the key of the previous rotation, if any."""

    current: SigningKey
    previous: SigningKey | None = None

    def find(self, kid: str) -> SigningKey | None:
        """Return the key whose id is `kid`, or None when neither key has it."""
        for key in (self.current, self.previous):
            if key is not None and key.kid == kid:
                return key
        return None


def key_id(secret: str) -> str:
    """Derive a key's `kid` from the key itself, so every container computes the same id.

    The id is a truncated SHA-256 digest. For a random key of 32 bytes or more it reveals nothing
    useful, and a weak key can be guessed from any token anyway.
    """
    return hashlib.sha256(b"org-management-jwt-kid:" + secret.encode("utf-8")).hexdigest()[:16]


# The authorizer loads the keys on every call. A key's id depends on the key alone, so each container
# derives it once per key, and a rotated key gets an entry of its own. A key that is too short raises
# each time, because lru_cache keeps no exceptions.
@functools.lru_cache(maxsize=8)
def _checked(secret: str, source: str) -> SigningKey:
    size = len(secret.encode("utf-8"))
    if size < MIN_JWT_KEY_BYTES:
        raise ConfigurationError(
            f"The JWT signing key from {source} is {size} bytes long; use at least {MIN_JWT_KEY_BYTES} random bytes."
        )
    return SigningKey(kid=key_id(secret), secret=secret)


def _provider(stage: str) -> Any:
    # Imported here because only AWS deployments read Secrets Manager.
    from aws_lambda_powertools.utilities import parameters

    if stage not in _providers:
        _providers[stage] = parameters.SecretsProvider()
    return _providers[stage]


def _as_text(value: Any, secret_id: str) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigurationError(
                f"Secret {secret_id!r} contains binary data that is not UTF-8; store the value as SecretString."
            ) from None
    return str(value)


def _read_current(secret_id: str, max_age: int, *, force: bool) -> str:
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        value = _provider(CURRENT_STAGE).get(
            secret_id, max_age=max_age, force_fetch=force, VersionStage=CURRENT_STAGE
        )
    except GetParameterError as error:
        raise ConfigurationError(
            f"Reading secret {secret_id!r} from AWS Secrets Manager failed ({error}); "
            "check that it exists and that the function's role may read it."
        ) from error
    return _as_text(value, secret_id)


def _read_previous(secret_id: str, max_age: int, *, force: bool) -> str | None:
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    if not force and _previous_absent_until.get(secret_id, 0.0) > time.monotonic():
        return None

    try:
        value = _provider(PREVIOUS_STAGE).get(
            secret_id, max_age=max_age, force_fetch=force, VersionStage=PREVIOUS_STAGE
        )
    except GetParameterError as error:
        # A secret that was never rotated has no AWSPREVIOUS version, and Secrets Manager reports
        # that as ResourceNotFoundException. Any other failure is a real error.
        if "ResourceNotFoundException" not in str(error):
            raise ConfigurationError(
                f"Reading the {PREVIOUS_STAGE} version of secret {secret_id!r} failed ({error}); "
                "check that the function's role may read it."
            ) from error
        _previous_absent_until[secret_id] = time.monotonic() + max_age
        return None

    _previous_absent_until.pop(secret_id, None)
    return _as_text(value, secret_id)


def load_key_ring(settings: Settings) -> KeyRing:
    """Return the signing keys, from Secrets Manager when JWT_SECRET_ID is set, else from JWT_SECRET_KEY.

    Raises ConfigurationError when no key is configured, a key cannot be read, or a key is shorter
    than MIN_JWT_KEY_BYTES bytes of UTF-8.
    """
    return _load(settings, force=False)


def refresh_key_ring(settings: Settings) -> KeyRing | None:
    """Re-read the keys from Secrets Manager past the cache, for a token that names an unknown key.

    Returns None without reading when no secret is configured or the last forced re-read of the
    secret ran less than FORCED_REFRESH_INTERVAL_SECONDS ago.
    """
    secret_id = settings.jwt_secret_id
    if not secret_id:
        return None

    now = time.monotonic()
    last = _last_forced_refresh.get(secret_id)
    if last is not None and now - last < FORCED_REFRESH_INTERVAL_SECONDS:
        return None
    _last_forced_refresh[secret_id] = now
    return _load(settings, force=True)


def _load(settings: Settings, *, force: bool) -> KeyRing:
    if settings.jwt_secret_id:
        secret_id = settings.jwt_secret_id
        max_age = settings.secret_cache_seconds
        if settings.secret_store == SSM:
            # NOTE: SSM Parameter Store has no AWSPREVIOUS stage, so rotating a key kept there ends
            # every earlier token at once. Keep the key in Secrets Manager for a gradual rotation.
            return KeyRing(current=_checked(fetch_secret(secret_id, max_age, SSM), f"SSM parameter {secret_id!r}"))

        current = _checked(_read_current(secret_id, max_age, force=force), f"secret {secret_id!r}")
        previous_secret = _read_previous(secret_id, max_age, force=force)
        if previous_secret is None or previous_secret == current.secret:
            return KeyRing(current=current)
        return KeyRing(current=current, previous=_checked(previous_secret, f"secret {secret_id!r} ({PREVIOUS_STAGE})"))

    if settings.jwt_secret_key:
        return KeyRing(current=_checked(settings.jwt_secret_key, "JWT_SECRET_KEY"))
    raise ConfigurationError("JWT_SECRET_KEY is not set; set it or JWT_SECRET_ID to sign and verify tokens.")


def clear_cache() -> None:
    """Forget the cached keys, so the next load reads Secrets Manager again."""
    _providers.clear()
    _checked.cache_clear()
    _previous_absent_until.clear()
    _last_forced_refresh.clear()
