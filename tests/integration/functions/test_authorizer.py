"""The REQUEST authorizer handler: Allow policies for valid tokens, "Unauthorized" for everything else."""

from __future__ import annotations

import time

import pytest
from orgservice.core.config import get_settings

from tests.integration.functions.invoke import Tenant, authorize, delete_organization, login, update_organization
from tests.unit.core.jwt_signing import claims_for, replace_payload, sign

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


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda tenant, key: sign(service_claims(tenant, exp=int(time.time()) - 120), key), id="expired"),
        pytest.param(lambda tenant, key: sign(service_claims(tenant, iss="someone-else"), key), id="wrong-issuer"),
        pytest.param(lambda tenant, key: sign(service_claims(tenant, aud="another-api"), key), id="wrong-audience"),
        pytest.param(lambda tenant, key: sign(service_claims(tenant), OTHER_KEY), id="wrong-key"),
        pytest.param(lambda tenant, key: sign(service_claims(tenant), key, algorithm="none"), id="alg-none"),
        pytest.param(lambda tenant, key: sign(service_claims(tenant), "", algorithm="none"), id="alg-none-no-key"),
        pytest.param(lambda tenant, key: sign(service_claims(tenant), key, algorithm="HS512"), id="hs512"),
        pytest.param(lambda tenant, key: sign(service_claims(tenant, sub=12345), key), id="numeric-sub"),
        pytest.param(lambda tenant, key: sign(service_claims(tenant, sub={"$ne": None}), key), id="object-sub"),
        pytest.param(lambda tenant, key: sign(service_claims(tenant, org_id=["x"]), key), id="list-org-id"),
        pytest.param(lambda tenant, key: sign(service_claims(tenant, org_id=""), key), id="empty-org-id"),
        pytest.param(
            lambda tenant, key: sign({k: v for k, v in service_claims(tenant).items() if k != "exp"}, key),
            id="no-expiry",
        ),
        pytest.param(lambda tenant, key: "not.a.token", id="garbage"),
    ],
)
def test_authorizer_rejects_invalid_token(acme: Tenant, key: str, forge) -> None:
    with pytest.raises(Exception, match="^Unauthorized$"):
        authorize(bearer(forge(acme, key)))


def test_authorizer_rejects_tampered_payload(acme: Tenant, globex: Tenant, token: str) -> None:
    tampered = replace_payload(token, service_claims(globex))

    with pytest.raises(Exception, match="^Unauthorized$"):
        authorize(bearer(tampered))


def test_authorizer_context_drives_update(acme: Tenant, token: str) -> None:
    context = authorize(bearer(token))["context"]

    response = update_organization(context, {"organization_name": "Acme Industries"})

    assert response.status == 200


def test_authorizer_allows_token_of_deleted_admin(acme: Tenant, token: str) -> None:
    """The authorizer checks only the token, so the function must reject the missing admin."""
    delete_organization(acme.context)

    context = authorize(bearer(token))["context"]

    assert update_organization(context, {"organization_name": "Acme Reborn"}).status in (401, 404)
