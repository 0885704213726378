"""Issuing and verifying the JWTs that admins present to the authorizer.

Only PyJWT is imported here, so the authorizer stays free of the web framework and the database driver.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from orgservice.core.keys import KeyRing, SigningKey

ALGORITHM = "HS256"
ORGANIZATION_CLAIM = "org_id"
# The admin's token version when the token was issued; changing the email or password raises it,
# which revokes every token issued before.
VERSION_CLAIM = "ver"
TIME_CLAIMS = ("exp", "iat", "nbf")
REQUIRED_CLAIMS = ["sub", ORGANIZATION_CLAIM, VERSION_CLAIM, "iss", "aud", "iat", "exp", "jti"]


class InvalidTokenError(Exception):
    """The token is malformed, expired, or not signed by this service; the message is safe to return."""


class UnknownKeyError(InvalidTokenError):
    """The token's `kid` names neither the current nor the previous key that the verifier holds."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """Verified identity carried by a token."""

    admin_id: str
    organization_id: str
    token_version: int
    token_id: str
    expires_at: int


def issue_token(
    *,
    admin_id: str,
    organization_id: str,
    token_version: int,
    key: SigningKey,
    issuer: str,
    audience: str,
    expires_seconds: int,
) -> str:
    """Sign a token that identifies the admin and the organization by id, so a rename keeps it valid.

    The `kid` header names the key, so verifiers find it after the key rotates.
    """
    now = int(time.time())
    claims = {
        "sub": admin_id,
        ORGANIZATION_CLAIM: organization_id,
        VERSION_CLAIM: token_version,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + expires_seconds,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid})


def _key_of(token: str, keys: KeyRing) -> SigningKey:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as error:
        raise InvalidTokenError(f"The token is invalid ({error}); log in again.") from None

    kid = header.get("kid")
    if not isinstance(kid, str):
        raise InvalidTokenError("The token has no 'kid' header; log in again.")

    key = keys.find(kid)
    if key is None:
        raise UnknownKeyError("The token was signed with a key that is no longer accepted; log in again.")
    return key


def _is_integer(value: object) -> bool:
    # bool is a subclass of int in Python, but `true` is no time or version.
    return isinstance(value, int) and not isinstance(value, bool)


def _check_times(claims: dict[str, object], *, max_lifetime_seconds: int, leeway_seconds: int) -> None:
    # PyJWT converts the time claims with int(), so it accepts "9999999999" and truncates 1.5.
    # This service issues whole seconds only, so anything else is a forgery.
    for claim in TIME_CLAIMS:
        if claim in claims and not _is_integer(claims[claim]):
            raise InvalidTokenError(f"The token's {claim} claim must be an integer number of seconds; log in again.")

    lifetime = claims["exp"] - claims["iat"]
    if lifetime > max_lifetime_seconds + leeway_seconds:
        raise InvalidTokenError(
            f"The token's lifetime of {lifetime} seconds exceeds the {max_lifetime_seconds} seconds "
            "that this service issues; log in again."
        )


def _check_audience(claims: dict[str, object], audience: str) -> None:
    # RFC 7519 allows `aud` to be a list, and PyJWT accepts a list that contains the audience.
    # A token meant for several APIs could be replayed against this one, so a list is accepted
    # only when it names this audience alone.
    value = claims["aud"]
    if isinstance(value, list) and value != [audience]:
        raise InvalidTokenError("The token's aud claim must name this API alone; log in again.")


def verify_token(
    token: str,
    *,
    keys: KeyRing,
    issuer: str,
    audience: str,
    leeway_seconds: int,
    max_lifetime_seconds: int,
) -> TokenClaims:
    """Verify key id, signature, algorithm, expiry, not-before, issue time, issuer and audience; return the claims.

    PyJWT checks `exp`, `nbf` and `iat` against the clock with `leeway_seconds` of tolerance.
    A token whose `exp - iat` exceeds `max_lifetime_seconds` plus the leeway is rejected, so even
    a leaked signing key cannot mint a token that outlives the lifetime this service issues.
    """
    key = _key_of(token, keys)
    try:
        claims = jwt.decode(
            token,
            key.secret,
            algorithms=[ALGORITHM],
            issuer=issuer,
            audience=audience,
            leeway=leeway_seconds,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidTokenError("The token has expired; log in again.") from None
    except jwt.InvalidTokenError as error:
        raise InvalidTokenError(f"The token is invalid ({error}); log in again.") from None

    _check_times(claims, max_lifetime_seconds=max_lifetime_seconds, leeway_seconds=leeway_seconds)
    _check_audience(claims, audience)

    for claim in ("sub", ORGANIZATION_CLAIM):
        if not isinstance(claims[claim], str) or not claims[claim]:
            raise InvalidTokenError(f"The token's {claim} claim must be a non-empty string; log in again.")
    organization_id = claims[ORGANIZATION_CLAIM]

    version = claims[VERSION_CLAIM]
    if not _is_integer(version) or version < 0:
        raise InvalidTokenError(f"The token's {VERSION_CLAIM} claim must be a non-negative integer; log in again.")

    return TokenClaims(
        admin_id=claims["sub"],
        organization_id=organization_id,
        token_version=version,
        token_id=str(claims["jti"]),
        expires_at=int(claims["exp"]),
    )
