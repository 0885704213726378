"""GET /org/get through the handler: public fields only, lookup by slug, 404 and 422."""

from __future__ import annotations

import pytest

from tests.integration.functions.invoke import Tenant, get_organization, invoke

PUBLIC_FIELDS = {"id", "organization_name", "collection_name", "created_at", "updated_at"}


def test_get_returns_public_fields(acme: Tenant) -> None:
    response = get_organization("Acme Corp")

    assert response.status == 200
    assert response.body.keys() == PUBLIC_FIELDS
    assert response.body["id"] == acme.organization_id
    assert response.body["organization_name"] == "Acme Corp"
    assert response.body["collection_name"] == "org_acme_corp"


def test_get_omits_admin_email(acme: Tenant) -> None:
    response = get_organization("Acme Corp")

    assert "admin_email" not in response.body
    assert acme.email not in repr(response.body)


@pytest.mark.parametrize("name", ["acme_corp", "ACME-corp", "  acme corp  ", "Acmé Corp"])
def test_get_finds_name_by_slug(acme: Tenant, name: str) -> None:
    response = get_organization(name)

    assert response.status == 200
    assert response.body["id"] == acme.organization_id


def test_get_picks_right_tenant(acme: Tenant, globex: Tenant) -> None:
    assert get_organization("Globex").body["id"] == globex.organization_id


def test_get_unknown_name_returns_404(acme: Tenant) -> None:
    response = get_organization("Initech")

    assert response.status == 404
    assert "Organization 'Initech' not found" in response.detail


def test_get_missing_parameter_returns_422(acme: Tenant) -> None:
    response = invoke("get_organization", method="GET", path="/org/get")

    assert response.status == 422
    assert "'organization_name' is missing; add it to the query string" in response.detail


@pytest.mark.parametrize(
    "query",
    [
        {"organization_name[$ne]": ["x"]},
        {"name": ["Acme Corp"]},
    ],
)
def test_get_other_parameters_return_422(acme: Tenant, query: dict[str, list[str]]) -> None:
    response = invoke("get_organization", method="GET", path="/org/get", query=query)

    assert response.status == 422
    assert "'organization_name' is missing" in response.detail


@pytest.mark.parametrize(
    ("name", "phrase"), [("a", "at least 2"), ("😀", "no ASCII"), ("x\u0000y", "control"), ("  ", "empty")]
)
def test_get_invalid_name_returns_422(acme: Tenant, name: str, phrase: str) -> None:
    response = get_organization(name)

    assert response.status == 422
    assert "'organization_name'" in response.detail
    assert phrase in response.detail


@pytest.mark.parametrize("name", ['{"$ne": null}', "$where", "acme.*", "acme_corp|globex"])
def test_get_operator_text_is_plain_name(acme: Tenant, name: str) -> None:
    response = get_organization(name)

    assert response.status == 404
