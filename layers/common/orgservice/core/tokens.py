"""Issuing and verifying the JWTs that admins present to the authorizer.

Only PyJWT is imported here, so the authorizer stays free of the web framework and the database driver.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

ALGORITHM = "HS256"
ORGANIZATION_CLAIM = "org_id"
REQUIRED_CLAIMS = ["sub", ORGANIZATION_CLAIM, "iss", "aud", "iat", "exp", "jti"]


class InvalidTokenError(Exception):
    """The token is malformed, expired, or not signed by this service; the message is safe to return."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """Verified identity carried by a token."""

    admin_id: str
    organization_id: str
    token_id: str
    expires_at: int


def issue_token(
    *, admin_id: str, organization_id: str, key: str, issuer: str, audience: str, expires_seconds: int
) -> str:
    """Sign a token that identifies the admin and the organization by id, so a rename keeps it valid."""
    now = int(time.time())
    claims = {
        "sub": admin_id,
        ORGANIZATION_CLAIM: organization_id,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + expires_seconds,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def verify_token(token: str, *, key: str, issuer: str, audience: str, leeway_seconds: int) -> TokenClaims:
    """Verify signature, algorithm, expiry, issuer and audience, and return the claims."""
    try:
        claims = jwt.decode(
            token,
            key,
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

    return TokenClaims(
        admin_id=claims["sub"],
        organization_id=organization_id,
        token_id=str(claims["jti"]),
        expires_at=int(claims["exp"]),
    )
