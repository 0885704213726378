"""The collection-per-tenant placement: where a slug's data lives."""

from __future__ import annotations

from orgservice.models import TenantLocation
from orgservice.placement import CollectionPerTenantPlacement


def test_locate_prefixes_slug() -> None:
    placement = CollectionPerTenantPlacement("master")

    assert placement.locate("acme_corp") == TenantLocation(database_name="master", collection_name="org_acme_corp")


def test_locate_namespace_joins_names() -> None:
    location = CollectionPerTenantPlacement("master").locate("acme_corp")

    assert location.namespace == "master.org_acme_corp"


def test_locate_distinct_slugs_distinct_collections() -> None:
    placement = CollectionPerTenantPlacement("master")

    assert placement.locate("acme") != placement.locate("acme_corp")
