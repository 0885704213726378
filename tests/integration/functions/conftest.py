"""Tenants created through the create handler in the current test's master database."""

from __future__ import annotations

import pytest

from tests.integration.functions.invoke import Tenant, register


@pytest.fixture
def acme(service_env: dict[str, str]) -> Tenant:
    return register("Acme Corp", "admin@acme.example.com")


@pytest.fixture
def globex(service_env: dict[str, str]) -> Tenant:
    return register("Globex", "admin@globex.example.com")
