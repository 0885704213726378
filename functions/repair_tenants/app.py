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
from orgservice.core.config import get_settings
from orgservice.wiring import build_lifecycle

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run one repair pass and return its report; the event's content is ignored."""
    logger.info("Repair started", extra={"source": event.get("source") if isinstance(event, dict) else None})
    report = build_lifecycle(get_settings()).repair_expired()
    return asdict(report)
