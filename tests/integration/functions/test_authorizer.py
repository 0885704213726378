"""The REQUEST authorizer handler: Allow policies for valid tokens, "Unauthorized" for everything else."""

from __future__ import annotations

import time

import pytest
from orgservice.core import db
from orgservice.core.config import ConfigurationError, get_settings
from orgservice.core.keys import key_id
from orgservice.core.tokens import REQUIRED_CLAIMS
from pymongo.database import Database

from tests.integration.functions.invoke import Tenant, authorize, delete_organization, login, update_organization
from tests.unit.core.jwt_signing import claims_for, replace_payload, sign, strip_signature

STAGE_RESOURCE = "arn:aws:execute-api:us-east-1:123456789012:localapi01/{stage}/*/*"
OTHER_KEY = "another-signing-key-" * 3


@pytest.fixture
def key(service_env: dict[str, str]) -> str:
    return service_env["JWT_SECRET_KEY"]


@pytest.fixture
def token(acme: Tenant) -> str:
    return login(acme.email, acme.password).body["access_token"]


def service_claims(tenant: Tenant, **changes: object) -> dict[str, object]:
    settings = get_settings()
    claims = claims_for(
        admin_id=tenant.admin_id,
        organization_id=tenant.organization_id,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    claims.update(changes)
    return claims


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_authorizer_allows_valid_token(acme: Tenant, token: str) -> None:
    response = authorize(bearer(token))

    statement = response["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "execute-api:Invoke"


@pytest.mark.parametrize("stage", ["Prod", "dev"])
def test_authorizer_policy_covers_stage(token: str, stage: str) -> None:
    response = authorize(bearer(token), stage=stage)

    resources = response["policyDocument"]["Statement"][0]["Resource"]
    assert resources == [STAGE_RESOURCE.format(stage=stage)]


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_authorizer_policy_same_per_route(token: str, method: str) -> None:
    assert authorize(bearer(token), method=method)["policyDocument"] == authorize(bearer(token))["policyDocument"]


def test_authorizer_principal_is_admin(acme: Tenant, token: str) -> None:
    assert authorize(bearer(token))["principalId"] == acme.admin_id


def test_authorizer_context_carries_flat_ids(acme: Tenant, token: str) -> None:
    context = authorize(bearer(token))["context"]

    assert context == {"admin_id": acme.admin_id, "organization_id": acme.organization_id, "token_version": "0"}
    assert all(isinstance(value, str) for value in context.values())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Authorization", "Bearer {token}"),
        ("authorization", "bearer {token}"),
        ("AUTHORIZATION", "BEARER {token}"),
        ("aUtHoRiZaTiOn", "BeArEr {token}"),
        ("Authorization", "  Bearer {token}  "),
        ("Authorization", "Bearer   {token}"),
    ],
)
def test_authorizer_matches_case_insensitively(acme: Tenant, token: str, name: str, value: str) -> None:
    response = authorize({name: value.format(token=token)})

    assert response["principalId"] == acme.admin_id


def test_authorizer_accepts_expiry_within_leeway(acme: Tenant, key: str) -> None:
    expired = sign(service_claims(acme, exp=int(time.time()) - get_settings().jwt_leeway_seconds // 2), key)

    assert authorize(bearer(expired))["principalId"] == acme.admin_id


def test_authorizer_accepts_hand_signed_token(acme: Tenant, key: str) -> None:
    assert authorize(bearer(sign(service_claims(acme), key)))["principalId"] == acme.admin_id


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(None, id="no-headers"),
        pytest.param({"X-Api-Key": "abc"}, id="no-authorization"),
        pytest.param({"Authorization": ""}, id="empty"),
        pytest.param({"Authorization": "Bearer"}, id="scheme-only"),
        pytest.param({"Authorization": "Bearer    "}, id="scheme-and-spaces"),
        pytest.param({"Authorization": "Basic YWRtaW46cGFzc3dvcmQ="}, id="basic"),
        pytest.param({"Authorization": "Token abc.def.ghi"}, id="other-scheme"),
    ],
)
def test_authorizer_rejects_missing_bearer(service_env: dict[str, str], headers: dict[str, str] | None) -> None:
    with pytest.raises(Exception, match="^Unauthorized$"):
        authorize(headers)


def test_authorizer_rejects_token_without_scheme(token: str) -> None:
    with pytest.raises(Exception, match="^Unauthorized$"):
        authorize({"Authorization": token})


def test_authorizer_rejects_basic_scheme_with_token(token: str) -> None:
    with pytest.raises(Exception, match="^Unauthorized$"):
        authorize({"Authorization": f"Basic {token}"})


def without(claims: dict[str, object], name: str) -> dict[str, object]:
    return {key: value for key, value in claims.items() if key != name}


def future(seconds_beyond_leeway: int) -> int:
    return int(time.time()) + get_settings().jwt_leeway_seconds + seconds_beyond_leeway


def forge_without(claim: str):
    return lambda tenant, key: sign(without(service_claims(tenant), claim), key)


# Each case forges a token from the tenant and the real signing key, and the authorizer must deny it.
ATTACKS = {
    "alg-none": lambda tenant, key: sign(service_claims(tenant), key, algorithm="none"),
    "alg-none-no-key": lambda tenant, key: sign(service_claims(tenant), "", algorithm="none", kid=None),
    "hs384": lambda tenant, key: sign(service_claims(tenant), key, algorithm="HS384"),
    "hs512": lambda tenant, key: sign(service_claims(tenant), key, algorithm="HS512"),
    "guessed-weak-key": lambda tenant, key: sign(service_claims(tenant), "secret", kid=key_id(key)),
    "guessed-weak-key-own-kid": lambda tenant, key: sign(service_claims(tenant), "secret"),
    "other-strong-key": lambda tenant, key: sign(service_claims(tenant), OTHER_KEY, kid=key_id(key)),
    "no-signature": lambda tenant, key: strip_signature(sign(service_claims(tenant), key)),
    "expired": lambda tenant, key: sign(service_claims(tenant, exp=int(time.time()) - 120), key),
    "nbf-in-future": lambda tenant, key: sign(service_claims(tenant, nbf=future(60)), key),
    "iat-in-future": lambda tenant, key: sign(service_claims(tenant, iat=future(60)), key),
    "wrong-issuer": lambda tenant, key: sign(service_claims(tenant, iss="someone-else"), key),
    "wrong-audience": lambda tenant, key: sign(service_claims(tenant, aud="another-api"), key),
    "numeric-sub": lambda tenant, key: sign(service_claims(tenant, sub=12345), key),
    "object-sub": lambda tenant, key: sign(service_claims(tenant, sub={"$ne": None}), key),
    "list-org-id": lambda tenant, key: sign(service_claims(tenant, org_id=["x"]), key),
    "empty-org-id": lambda tenant, key: sign(service_claims(tenant, org_id=""), key),
    "string-version": lambda tenant, key: sign(service_claims(tenant, ver="0"), key),
    "string-exp": lambda tenant, key: sign(service_claims(tenant, exp=str(future(3000))), key),
    "string-iat": lambda tenant, key: sign(service_claims(tenant, iat=str(int(time.time()))), key),
    "string-nbf": lambda tenant, key: sign(service_claims(tenant, nbf=str(int(time.time()))), key),
    "fractional-exp": lambda tenant, key: sign(service_claims(tenant, exp=future(600) + 0.5), key),
    "forever-exp": lambda tenant, key: sign(service_claims(tenant, exp=future(10 * 365 * 86400)), key),
    "far-past-iat": lambda tenant, key: sign(service_claims(tenant, iat=int(time.time()) - 30 * 86400), key),
    "audience-among-others": lambda tenant, key: sign(
        service_claims(tenant, aud=[get_settings().jwt_audience, "another-api"]), key
    ),
    "no-kid": lambda tenant, key: sign(service_claims(tenant), key, kid=None),
    "unknown-kid": lambda tenant, key: sign(service_claims(tenant), key, kid="0123456789abcdef"),
    "garbage": lambda tenant, key: "not.a.token",
    **{f"missing-{claim}": forge_without(claim) for claim in REQUIRED_CLAIMS},
}


def snapshot(master_db: Database) -> dict[str, object]:
    """Every document of the master database and every collection name, to compare before and after."""
    return {
        "collections": sorted(master_db.list_collection_names()),
        "organizations": list(master_db.organizations.find().sort("_id")),
        "admins": list(master_db.admins.find().sort("_id")),
        "login_attempts": list(master_db.login_attempts.find().sort("_id")),
    }


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_authorizer_rejects_forged_token(acme: Tenant, key: str, master_db: Database, attack: str) -> None:
    forged = ATTACKS[attack](acme, key)
    before = snapshot(master_db)
    db.reset()

    with pytest.raises(Exception, match="^Unauthorized$"):
        authorize(bearer(forged))

    assert db._client is None, "the authorizer opened a database connection"
    assert snapshot(master_db) == before


def test_authorizer_rejects_tampered_payload(acme: Tenant, globex: Tenant, token: str, master_db: Database) -> None:
    tampered = replace_payload(token, service_claims(globex))
    before = snapshot(master_db)

    with pytest.raises(Exception, match="^Unauthorized$"):
        authorize(bearer(tampered))

    assert snapshot(master_db) == before


def test_authorizer_accepts_future_iat_within_leeway(acme: Tenant, key: str) -> None:
    token = sign(service_claims(acme, iat=int(time.time()) + get_settings().jwt_leeway_seconds // 2), key)

    assert authorize(bearer(token))["principalId"] == acme.admin_id


def test_authorizer_accepts_audience_alone_in_list(acme: Tenant, key: str) -> None:
    token = sign(service_claims(acme, aud=[get_settings().jwt_audience]), key)

    assert authorize(bearer(token))["principalId"] == acme.admin_id


def test_authorizer_accepts_nbf_within_leeway(acme: Tenant, key: str) -> None:
    token = sign(service_claims(acme, nbf=int(time.time()) + get_settings().jwt_leeway_seconds // 2), key)

    assert authorize(bearer(token))["principalId"] == acme.admin_id


def test_authorizer_short_key_fails_with_clear_log(
    acme: Tenant, token: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("JWT_SECRET_KEY", "too-short")
    get_settings.cache_clear()

    with pytest.raises(ConfigurationError, match="is 9 bytes long; use at least 32"):
        authorize(bearer(token))

    assert "The authorizer is misconfigured" in caplog.messages


def test_authorizer_context_drives_update(acme: Tenant, token: str) -> None:
    context = authorize(bearer(token))["context"]

    response = update_organization(context, {"organization_name": "Acme Industries"})

    assert response.status == 200


def test_authorizer_allows_token_of_deleted_admin(acme: Tenant, token: str) -> None:
    """The authorizer checks only the token, so the function must reject the missing admin."""
    delete_organization(acme.context)

    context = authorize(bearer(token))["context"]

    assert update_organization(context, {"organization_name": "Acme Reborn"}).status in (401, 404)


@pytest.fixture
def secret_key(acme: Tenant, secretsmanager, monkeypatch: pytest.MonkeyPatch) -> str:
    """Move the signing key into Secrets Manager, cached for five minutes as in AWS."""
    key = "first-rotation-key-" * 3
    secretsmanager.create_secret(Name="org/test/jwt-key", SecretString=key)
    monkeypatch.delenv("JWT_SECRET_KEY")
    monkeypatch.setenv("JWT_SECRET_ID", "org/test/jwt-key")
    monkeypatch.setenv("SECRET_CACHE_SECONDS", "300")
    get_settings.cache_clear()
    return key


def test_authorizer_rereads_rotated_key(acme: Tenant, secret_key: str, secretsmanager) -> None:
    assert authorize(bearer(sign(service_claims(acme), secret_key)))["principalId"] == acme.admin_id
    new_key = "second-rotation-key-" * 3
    secretsmanager.put_secret_value(SecretId="org/test/jwt-key", SecretString=new_key)

    new_token = sign(service_claims(acme), new_key)

    assert authorize(bearer(new_token))["principalId"] == acme.admin_id
    assert authorize(bearer(sign(service_claims(acme), secret_key)))["principalId"] == acme.admin_id


def test_authorizer_rereads_keys_rarely(acme: Tenant, secret_key: str, secretsmanager) -> None:
    assert authorize(bearer(sign(service_claims(acme), secret_key)))["principalId"] == acme.admin_id
    with pytest.raises(Exception, match="^Unauthorized$"):
        authorize(bearer(sign(service_claims(acme), secret_key, kid="0123456789abcdef")))
    new_key = "second-rotation-key-" * 3
    secretsmanager.put_secret_value(SecretId="org/test/jwt-key", SecretString=new_key)

    # The unknown kid above used up the forced re-read, so the cached keys stay until it may run again.
    with pytest.raises(Exception, match="^Unauthorized$"):
        authorize(bearer(sign(service_claims(acme), new_key)))
