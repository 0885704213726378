"""Services wired as the API wires them, against the current test's master database."""

from __future__ import annotations

import pytest
from orgservice.api import deps
from orgservice.core.config import get_settings
from orgservice.services.admins import AdminService
from orgservice.services.organizations import OrganizationService


@pytest.fixture
def admin_service(service_env: dict[str, str]) -> AdminService:
    return deps.get_admin_service(get_settings())


@pytest.fixture
def organization_service(admin_service: AdminService) -> OrganizationService:
    return deps.get_organization_service(get_settings(), admin_service)
