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


def verify_token(token: str, *, keys: KeyRing, issuer: str, audience: str, leeway_seconds: int) -> TokenClaims:
    """Verify key id, signature, algorithm, expiry, not-before, issue time, issuer and audience; return the claims.

    PyJWT checks `exp`, `nbf` and `iat` against the clock with `leeway_seconds` of tolerance.
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

    for claim in ("sub", ORGANIZATION_CLAIM):
        if not isinstance(claims[claim], str) or not claims[claim]:
            raise InvalidTokenError(f"The token's {claim} claim must be a non-empty string; log in again.")
    organization_id = claims[ORGANIZATION_CLAIM]

    # bool is a subclass of int in Python, but `true` is no token version.
    version = claims[VERSION_CLAIM]
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise InvalidTokenError(f"The token's {VERSION_CLAIM} claim must be a non-negative integer; log in again.")

    return TokenClaims(
        admin_id=claims["sub"],
        organization_id=organization_id,
        token_version=version,
        token_id=str(claims["jti"]),
        expires_at=int(claims["exp"]),
    )
