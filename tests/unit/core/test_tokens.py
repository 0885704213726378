"""Issuing and verifying access tokens with real PyJWT, against tokens forged by hand."""

from __future__ import annotations

import time

import jwt
import pytest
from orgservice.core.keys import KeyRing, SigningKey, key_id
from orgservice.core.tokens import REQUIRED_CLAIMS, InvalidTokenError, issue_token, verify_token

from tests.unit.core.jwt_signing import claims_for, replace_payload, sign, strip_signature

KEY = "k3y-" * 12
OTHER_KEY = "other-" * 8
KEYS = KeyRing(current=SigningKey(kid=key_id(KEY), secret=KEY))
ISSUER = "org-management-service"
AUDIENCE = "org-management-api"
LEEWAY = 10
LIFETIME = 3600
ADMIN_ID = "6b131ecb2e1f17fbed514e12"
ORGANIZATION_ID = "6b131ecb2e1f17fbed514e11"


def issue(expires_seconds: int = 3600) -> str:
    return issue_token(
        admin_id=ADMIN_ID,
        organization_id=ORGANIZATION_ID,
        token_version=3,
        key=KEYS.current,
        issuer=ISSUER,
        audience=AUDIENCE,
        expires_seconds=expires_seconds,
    )


def verify(token: str) -> object:
    return verify_token(
        token, keys=KEYS, issuer=ISSUER, audience=AUDIENCE, leeway_seconds=LEEWAY, max_lifetime_seconds=LIFETIME
    )


def service_claims(**changes: object) -> dict[str, object]:
    claims = claims_for(admin_id=ADMIN_ID, organization_id=ORGANIZATION_ID, issuer=ISSUER, audience=AUDIENCE)
    claims.update(changes)
    return claims


def test_verify_returns_issued_identity() -> None:
    claims = verify(issue())

    assert claims.admin_id == ADMIN_ID
    assert claims.organization_id == ORGANIZATION_ID
    assert claims.token_version == 3


def test_issue_sets_registered_claims() -> None:
    before = int(time.time())
    payload = jwt.decode(issue(expires_seconds=600), KEY, algorithms=["HS256"], audience=AUDIENCE)

    assert set(REQUIRED_CLAIMS) <= payload.keys()
    assert payload["iss"] == ISSUER
    assert payload["exp"] - payload["iat"] == 600
    assert payload["iat"] >= before


def test_issue_signs_with_hs256() -> None:
    assert jwt.get_unverified_header(issue())["alg"] == "HS256"


def test_issue_names_key_in_kid() -> None:
    assert jwt.get_unverified_header(issue())["kid"] == key_id(KEY)


def test_issue_gives_unique_token_ids() -> None:
    assert verify(issue()).token_id != verify(issue()).token_id


def test_verify_reports_expiry_time() -> None:
    token = sign(service_claims(exp=int(time.time()) + 123), KEY)

    assert verify(token).expires_at == jwt.decode(token, options={"verify_signature": False})["exp"]


def test_verify_accepts_hand_signed_token() -> None:
    assert verify(sign(service_claims(), KEY)).admin_id == ADMIN_ID


def test_verify_accepts_expiry_within_leeway() -> None:
    token = sign(service_claims(exp=int(time.time()) - LEEWAY // 2), KEY)

    assert verify(token).admin_id == ADMIN_ID


def test_verify_rejects_expiry_beyond_leeway() -> None:
    token = sign(service_claims(exp=int(time.time()) - LEEWAY - 30), KEY)

    with pytest.raises(InvalidTokenError, match="expired"):
        verify(token)


def test_verify_rejects_future_issue_time() -> None:
    token = sign(service_claims(iat=int(time.time()) + LEEWAY + 600), KEY)

    with pytest.raises(InvalidTokenError):
        verify(token)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(sign(service_claims(iss="someone-else"), KEY), id="wrong-issuer"),
        pytest.param(sign(service_claims(aud="another-api"), KEY), id="wrong-audience"),
        pytest.param(sign(service_claims(aud=["another-api"]), KEY), id="wrong-audience-list"),
        pytest.param(sign(service_claims(), OTHER_KEY), id="wrong-key"),
        pytest.param(sign(service_claims(), OTHER_KEY, kid=key_id(KEY)), id="wrong-key-right-kid"),
        pytest.param(sign(service_claims(), "secret", kid=key_id(KEY)), id="guessed-weak-key"),
        pytest.param(sign(service_claims(), KEY, kid=None), id="no-kid"),
        pytest.param(sign(service_claims(), KEY, kid=7), id="numeric-kid"),
        pytest.param(strip_signature(sign(service_claims(), KEY)), id="no-signature"),
        pytest.param(sign(service_claims(nbf=int(time.time()) + LEEWAY + 600), KEY), id="future-nbf"),
        pytest.param(sign(service_claims(ver="0"), KEY), id="string-version"),
        pytest.param(sign(service_claims(ver=True), KEY), id="boolean-version"),
        pytest.param(sign(service_claims(ver=-1), KEY), id="negative-version"),
        pytest.param(sign(service_claims(ver=1.5), KEY), id="fractional-version"),
        pytest.param(sign(service_claims(), KEY, algorithm="none"), id="alg-none"),
        pytest.param(sign(service_claims(), KEY, algorithm="HS512"), id="other-algorithm"),
        pytest.param(sign(service_claims(), KEY, algorithm="HS384"), id="hs384"),
        pytest.param(sign(service_claims(sub=12345), KEY), id="non-string-sub"),
        pytest.param(sign(service_claims(org_id=12345), KEY), id="non-string-org-id"),
        pytest.param(sign(service_claims(org_id=""), KEY), id="empty-org-id"),
        pytest.param(sign(service_claims(org_id=None), KEY), id="null-org-id"),
        pytest.param(sign(service_claims(exp=str(int(time.time()) + 600)), KEY), id="string-exp"),
        pytest.param(sign(service_claims(iat=str(int(time.time()))), KEY), id="string-iat"),
        pytest.param(sign(service_claims(nbf=str(int(time.time()))), KEY), id="string-nbf"),
        pytest.param(sign(service_claims(exp=time.time() + 600.5), KEY), id="fractional-exp"),
        pytest.param(sign(service_claims(iat=True), KEY), id="boolean-iat"),
        pytest.param(sign(service_claims(exp=int(time.time()) + 10 * 365 * 86400), KEY), id="forever-exp"),
        pytest.param(sign(service_claims(iat=int(time.time()) - 30 * 86400), KEY), id="far-past-iat"),
        pytest.param(sign(service_claims(aud=[AUDIENCE, "another-api"]), KEY), id="audience-among-others"),
        pytest.param(sign(service_claims(aud=[AUDIENCE, AUDIENCE]), KEY), id="audience-repeated"),
        pytest.param("", id="empty"),
        pytest.param("not-a-token", id="garbage"),
        pytest.param("a.b.c", id="three-garbage-segments"),
    ],
)
def test_verify_rejects_invalid_token(token: str) -> None:
    with pytest.raises(InvalidTokenError):
        verify(token)


def test_verify_accepts_audience_alone_in_list() -> None:
    assert verify(sign(service_claims(aud=[AUDIENCE]), KEY)).admin_id == ADMIN_ID


def test_verify_accepts_lifetime_within_leeway() -> None:
    now = int(time.time())
    token = sign(service_claims(iat=now - LEEWAY, exp=now + LIFETIME), KEY)

    assert verify(token).admin_id == ADMIN_ID


def test_verify_rejects_lifetime_beyond_leeway() -> None:
    now = int(time.time())
    token = sign(service_claims(iat=now - LEEWAY - 1, exp=now + LIFETIME), KEY)

    with pytest.raises(InvalidTokenError, match="lifetime of 3611 seconds exceeds the 3600 seconds"):
        verify(token)


def test_verify_rejects_tampered_payload() -> None:
    token = replace_payload(issue(), service_claims(sub="6b131ecb2e1f17fbed514eff"))

    with pytest.raises(InvalidTokenError):
        verify(token)


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
def test_verify_rejects_missing_claim(claim: str) -> None:
    claims = service_claims()
    del claims[claim]

    with pytest.raises(InvalidTokenError):
        verify(sign(claims, KEY))


def test_invalid_token_message_names_fix() -> None:
    with pytest.raises(InvalidTokenError, match="log in again"):
        verify(sign(service_claims(), OTHER_KEY))
