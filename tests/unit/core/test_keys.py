"""JWT signing keys from JWT_SECRET_KEY or from Secrets Manager (moto), with rotation and the key-size floor."""

from __future__ import annotations

import time
from collections.abc import Iterator

import jwt
import pytest
from orgservice.core.config import MIN_JWT_KEY_BYTES, ConfigurationError, get_settings
from orgservice.core.keys import KeyRing, SigningKey, key_id, load_key_ring, refresh_key_ring
from orgservice.core.tokens import InvalidTokenError, issue_token, verify_token

SECRET_ID = "org/jwt-key"
ISSUER = "org-management-service"
AUDIENCE = "org-management-api"
FIRST_KEY = "first-key-" * 5
SECOND_KEY = "second-key-" * 5
THIRD_KEY = "third-key-" * 5


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("JWT_SECRET_KEY", "JWT_SECRET_ID", "SECRET_CACHE_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def stored_secret(secretsmanager, monkeypatch: pytest.MonkeyPatch) -> object:
    """A secret with one version, FIRST_KEY, read without caching so each rotation shows at once."""
    secretsmanager.create_secret(Name=SECRET_ID, SecretString=FIRST_KEY)
    monkeypatch.setenv("JWT_SECRET_ID", SECRET_ID)
    monkeypatch.setenv("SECRET_CACHE_SECONDS", "0")
    return secretsmanager


def issue(keys: KeyRing, expires_seconds: int = 3600) -> str:
    return issue_token(
        admin_id="6b131ecb2e1f17fbed514e12",
        organization_id="6b131ecb2e1f17fbed514e11",
        token_version=0,
        key=keys.current,
        issuer=ISSUER,
        audience=AUDIENCE,
        expires_seconds=expires_seconds,
    )


def verify(token: str, keys: KeyRing) -> object:
    return verify_token(token, keys=keys, issuer=ISSUER, audience=AUDIENCE, leeway_seconds=0, max_lifetime_seconds=3600)


def rotate(secretsmanager, value: str) -> None:
    """Store a new AWSCURRENT version, which moves the earlier one to AWSPREVIOUS, as a rotation does."""
    secretsmanager.put_secret_value(SecretId=SECRET_ID, SecretString=value)


def test_key_read_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET_KEY", FIRST_KEY)

    keys = load_key_ring(get_settings())

    assert keys.current == SigningKey(kid=key_id(FIRST_KEY), secret=FIRST_KEY)
    assert keys.previous is None


def test_key_missing_names_variables() -> None:
    with pytest.raises(ConfigurationError, match="JWT_SECRET_KEY is not set; set it or JWT_SECRET_ID"):
        load_key_ring(get_settings())


@pytest.mark.parametrize("key", ["k" * MIN_JWT_KEY_BYTES, "é" * (MIN_JWT_KEY_BYTES // 2), "k" * 200])
def test_key_accepts_32_bytes_or_more(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("JWT_SECRET_KEY", key)

    assert load_key_ring(get_settings()).current.secret == key


@pytest.mark.parametrize(
    ("key", "size"),
    [("k" * (MIN_JWT_KEY_BYTES - 1), MIN_JWT_KEY_BYTES - 1), ("secret", 6), ("é" * 15, 30)],
)
def test_key_rejects_short_key(monkeypatch: pytest.MonkeyPatch, key: str, size: int) -> None:
    monkeypatch.setenv("JWT_SECRET_KEY", key)

    message = f"JWT_SECRET_KEY is {size} bytes long; use at least {MIN_JWT_KEY_BYTES} random bytes"
    with pytest.raises(ConfigurationError, match=message):
        load_key_ring(get_settings())


def test_key_id_differs_per_key() -> None:
    assert key_id(FIRST_KEY) != key_id(SECOND_KEY)
    assert key_id(FIRST_KEY) == key_id(FIRST_KEY)


def test_key_repr_hides_secret() -> None:
    assert FIRST_KEY not in repr(KeyRing(current=SigningKey(kid=key_id(FIRST_KEY), secret=FIRST_KEY)))


def test_secret_read_from_secrets_manager(stored_secret, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET_KEY", SECOND_KEY)

    keys = load_key_ring(get_settings())

    assert keys.current.secret == FIRST_KEY
    assert keys.previous is None


def test_secret_rejects_short_key(secretsmanager, monkeypatch: pytest.MonkeyPatch) -> None:
    secretsmanager.create_secret(Name=SECRET_ID, SecretString="short-secret")
    monkeypatch.setenv("JWT_SECRET_ID", SECRET_ID)

    with pytest.raises(ConfigurationError, match=f"secret '{SECRET_ID}' is 12 bytes long"):
        load_key_ring(get_settings())


def test_secret_rejects_short_previous_key(secretsmanager, monkeypatch: pytest.MonkeyPatch) -> None:
    secretsmanager.create_secret(Name=SECRET_ID, SecretString="short-secret")
    monkeypatch.setenv("JWT_SECRET_ID", SECRET_ID)
    monkeypatch.setenv("SECRET_CACHE_SECONDS", "0")
    rotate(secretsmanager, FIRST_KEY)

    with pytest.raises(ConfigurationError, match=r"\(AWSPREVIOUS\) is 12 bytes long"):
        load_key_ring(get_settings())


def test_missing_secret_names_secret_id(secretsmanager, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET_ID", "org/does-not-exist")

    with pytest.raises(ConfigurationError) as caught:
        load_key_ring(get_settings())

    assert "'org/does-not-exist'" in str(caught.value)
    assert "check that it exists" in str(caught.value)


def test_rotation_keeps_previous_key(stored_secret) -> None:
    rotate(stored_secret, SECOND_KEY)

    keys = load_key_ring(get_settings())

    assert keys.current.secret == SECOND_KEY
    assert keys.previous is not None
    assert keys.previous.secret == FIRST_KEY


def test_rotation_old_tokens_verify_until_expiry(stored_secret) -> None:
    before = load_key_ring(get_settings())
    old_token = issue(before)
    short_lived = issue(before, expires_seconds=60)
    rotate(stored_secret, SECOND_KEY)

    after = load_key_ring(get_settings())
    new_token = issue(after)

    assert verify(old_token, after).admin_id == "6b131ecb2e1f17fbed514e12"
    assert jwt.get_unverified_header(old_token)["kid"] == before.current.kid
    assert jwt.get_unverified_header(new_token)["kid"] == after.current.kid
    assert after.current.kid != before.current.kid
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(new_token, FIRST_KEY, algorithms=["HS256"], audience=AUDIENCE)
    assert verify(new_token, after).admin_id == "6b131ecb2e1f17fbed514e12"

    expired = jwt.encode(
        {**jwt.decode(short_lived, options={"verify_signature": False}), "exp": int(time.time()) - 1},
        FIRST_KEY,
        algorithm="HS256",
        headers={"kid": before.current.kid},
    )
    with pytest.raises(InvalidTokenError, match="expired"):
        verify(expired, after)


def test_second_rotation_drops_oldest_key(stored_secret) -> None:
    old_token = issue(load_key_ring(get_settings()))
    rotate(stored_secret, SECOND_KEY)
    rotate(stored_secret, THIRD_KEY)

    keys = load_key_ring(get_settings())

    with pytest.raises(InvalidTokenError, match="no longer accepted"):
        verify(old_token, keys)


def test_unknown_kid_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET_KEY", FIRST_KEY)
    keys = load_key_ring(get_settings())
    token = jwt.encode({"sub": "x"}, FIRST_KEY, algorithm="HS256", headers={"kid": "0123456789abcdef"})

    with pytest.raises(InvalidTokenError, match="no longer accepted"):
        verify(token, keys)


def test_secret_cached_within_max_age(stored_secret, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_CACHE_SECONDS", "300")
    get_settings.cache_clear()
    load_key_ring(get_settings())

    rotate(stored_secret, SECOND_KEY)

    assert load_key_ring(get_settings()).current.secret == FIRST_KEY


def test_secret_reread_when_cache_disabled(stored_secret) -> None:
    load_key_ring(get_settings())

    rotate(stored_secret, SECOND_KEY)

    assert load_key_ring(get_settings()).current.secret == SECOND_KEY


def test_binary_secret_decoded_as_utf8(secretsmanager, monkeypatch: pytest.MonkeyPatch) -> None:
    secretsmanager.create_secret(Name=SECRET_ID, SecretBinary=FIRST_KEY.encode("utf-8"))
    monkeypatch.setenv("JWT_SECRET_ID", SECRET_ID)

    assert load_key_ring(get_settings()).current.secret == FIRST_KEY


def test_refresh_reads_past_cache(stored_secret, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_CACHE_SECONDS", "300")
    get_settings.cache_clear()
    load_key_ring(get_settings())
    rotate(stored_secret, SECOND_KEY)

    refreshed = refresh_key_ring(get_settings())

    assert refreshed is not None
    assert refreshed.current.secret == SECOND_KEY
    assert refreshed.previous.secret == FIRST_KEY
    assert load_key_ring(get_settings()) == refreshed


def test_refresh_runs_once_per_interval(stored_secret) -> None:
    assert refresh_key_ring(get_settings()) is not None

    assert refresh_key_ring(get_settings()) is None


def test_refresh_without_secret_returns_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET_KEY", FIRST_KEY)

    assert refresh_key_ring(get_settings()) is None
