"""Lambda REQUEST authorizer: verifies the bearer JWT before the update and delete functions run.

It imports neither FastAPI nor pymongo, because it runs on the hot path of every protected call.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)
from orgservice.core.config import get_settings, resolve_jwt_key
from orgservice.core.tokens import InvalidTokenError, verify_token

logger = Logger()

# API Gateway turns this exact message into a 401 through the UNAUTHORIZED gateway response.
UNAUTHORIZED = "Unauthorized"


def _bearer_token(event: APIGatewayAuthorizerRequestEvent) -> str | None:
    # Header names and the scheme match case-insensitively (RFC 9110, sections 5.1 and 11.1).
    # Powertools 3 exposes the headers as a case-insensitive mapping.
    value = event.headers.get("authorization")
    if not value:
        return None

    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = APIGatewayAuthorizerRequestEvent(event)
    logger.set_correlation_id(request.request_context.request_id)

    token = _bearer_token(request)
    if token is None:
        logger.info("Denied: no bearer token", extra={"route": request.resource})
        raise Exception(UNAUTHORIZED)

    settings = get_settings()
    try:
        claims = verify_token(
            token,
            key=resolve_jwt_key(settings),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway_seconds=settings.jwt_leeway_seconds,
        )
    except InvalidTokenError as error:
        logger.info("Denied: invalid token", extra={"reason": str(error), "route": request.resource})
        raise Exception(UNAUTHORIZED) from None

    arn = request.parsed_arn
    response = APIGatewayAuthorizerResponse(
        principal_id=claims.admin_id,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        # API Gateway passes only flat string, number or boolean values to the function.
        context={"admin_id": claims.admin_id, "organization_id": claims.organization_id},
    )
    # The policy covers every method and path of the stage, so a cached result of one route
    # does not deny the other route.
    response.allow_all_routes()
    # DEBUG, not INFO: the function behind the authorizer logs the same ids with every request, and a
    # JSON log line costs about as much as verifying the token.
    logger.debug("Allowed", extra={"admin_id": claims.admin_id, "organization_id": claims.organization_id})
    return response.asdict()
