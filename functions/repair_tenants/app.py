"""Lambda function: settle creates, renames and deletes that a dead request left unfinished.

An EventBridge schedule runs it (see template.yaml); an operator can also invoke it by hand. It rolls
back interrupted creates, finishes interrupted renames and deletes whose lease has expired, and lists
tenant collections that no organization uses apart from those that a still-set move mark names,
without dropping any of them.
"""

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from orgservice.core import db
from orgservice.core.config import get_settings
from orgservice.placement import CollectionPerTenantPlacement
from orgservice.repositories.admins import AdminRepository
from orgservice.repositories.organizations import OrganizationRepository
from orgservice.repositories.tenant_collections import TenantCollectionRepository
from orgservice.services.collections import CollectionService
from orgservice.services.lifecycle import TenantLifecycle

logger = Logger()


def build_lifecycle() -> TenantLifecycle:
    """Wire the lifecycle service to the master database, as the API functions wire theirs."""
    settings = get_settings()
    database = db.get_database(settings)
    collections = CollectionService(
        placement=CollectionPerTenantPlacement(database.name),
        repository=TenantCollectionRepository(db.get_client()),
    )
    return TenantLifecycle(
        organizations=OrganizationRepository(database),
        admins=AdminRepository(database),
        collections=collections,
        run_in_transaction=db.run_in_transaction,
        master_database_name=database.name,
    )


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run one repair pass and return its report; the event's content is ignored."""
    logger.info("Repair started", extra={"source": event.get("source") if isinstance(event, dict) else None})
    report = build_lifecycle().repair_expired()
    return asdict(report)
