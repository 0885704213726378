"""The container's Powertools Metrics and Tracer, and one function per business event that counts it.

Metrics are written as CloudWatch embedded metric format (EMF) lines when a handler decorated with
`metrics.log_metrics` returns, under the namespace POWERTOOLS_METRICS_NAMESPACE with the dimensions
`service` and `stage`. Services call the counting functions below in one line, so they never deal
with metric names or units.

This module imports neither FastAPI nor pymongo, so the authorizer can use it. Outside Lambda (local
runs, tests) the Tracer disables itself and patches nothing.
"""

from __future__ import annotations

import os
import warnings

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

DEFAULT_NAMESPACE = "OrgManagement"

ORGANIZATIONS_CREATED = "OrganizationsCreated"
ORGANIZATIONS_RENAMED = "OrganizationsRenamed"
ORGANIZATIONS_DELETED = "OrganizationsDeleted"
LOGINS_SUCCEEDED = "LoginsSucceeded"
LOGINS_FAILED = "LoginsFailed"
AUTHORIZER_DENIALS = "AuthorizerDenials"
MIGRATION_ROLLBACKS = "MigrationRollbacks"

metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE)
if os.environ.get("STAGE"):
    metrics.set_default_dimensions(stage=os.environ["STAGE"])

# Most requests count nothing (reads, rejected input), and Powertools warns on each such flush.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

# botocore carries the Secrets Manager and SSM reads. The API functions add pymongo when they build
# their app (see orgservice.api.app), so that the authorizer never imports the database driver.
tracer = Tracer(patch_modules=("botocore",))


def trace_mongodb() -> None:
    """Record every MongoDB command as an X-Ray subsegment; command documents are never recorded."""
    tracer.patch(("pymongo",))


def _count(name: str) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def organization_created() -> None:
    _count(ORGANIZATIONS_CREATED)


def organization_renamed() -> None:
    _count(ORGANIZATIONS_RENAMED)


def organization_deleted() -> None:
    _count(ORGANIZATIONS_DELETED)


def login_succeeded() -> None:
    _count(LOGINS_SUCCEEDED)


def login_failed() -> None:
    _count(LOGINS_FAILED)


def authorizer_denied() -> None:
    _count(AUTHORIZER_DENIALS)


def migration_rolled_back() -> None:
    _count(MIGRATION_ROLLBACKS)
