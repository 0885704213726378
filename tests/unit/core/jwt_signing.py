"""Build signed JWTs by hand, independent of PyJWT, so tests can forge any header, claim or signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from orgservice.core.keys import key_id

DIGESTS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_KID_OF_KEY = object()


def sign(claims: dict[str, Any], key: str, *, algorithm: str = "HS256", kid: Any = _KID_OF_KEY) -> str:
    """Return a compact JWS of `claims`, with an empty signature for algorithm "none".

    The `kid` header is the service's id of `key` unless `kid` is given; None leaves it out.
    """
    header = {"alg": algorithm, "typ": "JWT"}
    if kid is _KID_OF_KEY:
        header["kid"] = key_id(key)
    elif kid is not None:
        header["kid"] = kid
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    if algorithm == "none":
        return f"{signing_input}."

    signature = hmac.new(key.encode("utf-8"), signing_input.encode("ascii"), DIGESTS[algorithm]).digest()
    return f"{signing_input}.{b64url(signature)}"


def claims_for(
    *,
    admin_id: str = "6b131ecb2e1f17fbed514e12",
    organization_id: str = "6b131ecb2e1f17fbed514e11",
    issuer: str,
    audience: str,
    expires_in: int = 3600,
) -> dict[str, Any]:
    """Return the claims that the service itself would issue, expiring `expires_in` seconds from now."""
    now = int(time.time())
    return {
        "sub": admin_id,
        "org_id": organization_id,
        "ver": 0,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + expires_in,
        "jti": uuid.uuid4().hex,
    }


def strip_signature(token: str) -> str:
    """Drop the signature of a signed token and keep its header and payload."""
    header, payload, _signature = token.split(".")
    return f"{header}.{payload}."


def replace_payload(token: str, claims: dict[str, Any]) -> str:
    """Swap the payload of a signed token and keep its original signature."""
    header, _payload, signature = token.split(".")
    return f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"
