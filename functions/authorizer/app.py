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
from orgservice.core.config import ConfigurationError, Settings, get_settings
from orgservice.core.keys import KeyRing, load_key_ring, refresh_key_ring
from orgservice.core.tokens import InvalidTokenError, TokenClaims, UnknownKeyError, verify_token
from orgservice.observability import authorizer_denied, metrics, tracer

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


def _verify(token: str, settings: Settings, keys: KeyRing) -> TokenClaims:
    def verify(with_keys: KeyRing) -> TokenClaims:
        return verify_token(
            token,
            keys=with_keys,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway_seconds=settings.jwt_leeway_seconds,
            max_lifetime_seconds=settings.jwt_expires_seconds,
        )

    try:
        return verify(keys)
    except UnknownKeyError:
        # Another container may have read a rotated secret first and signed with the new key.
        refreshed = refresh_key_ring(settings)
        if refreshed is None:
            raise
        logger.info("Re-read the signing keys for a token with an unknown key id")
        return verify(refreshed)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # The same value as correlation_id_path="requestContext.requestId", without a JMESPath search,
    # which costs a few per cent of a warm decision.
    logger.set_correlation_id((event.get("requestContext") or {}).get("requestId"))
    request = APIGatewayAuthorizerRequestEvent(event)
    logger.append_keys(method=request.http_method, route=request.resource)

    token = _bearer_token(request)
    if token is None:
        authorizer_denied()
        logger.info("Denied: no bearer token")
        raise Exception(UNAUTHORIZED)

    try:
        settings = get_settings()
        claims = _verify(token, settings, load_key_ring(settings))
    except InvalidTokenError as error:
        authorizer_denied()
        logger.info("Denied: invalid token", extra={"reason": str(error)})
        raise Exception(UNAUTHORIZED) from None
    except ConfigurationError as error:
        # API Gateway returns 500 when the authorizer raises anything but "Unauthorized".
        logger.error("The authorizer is misconfigured", extra={"reason": str(error)})
        raise

    arn = request.parsed_arn
    response = APIGatewayAuthorizerResponse(
        principal_id=claims.admin_id,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        # API Gateway passes only flat string, number or boolean values to the function, and the
        # function receives them as strings.
        context={
            "admin_id": claims.admin_id,
            "organization_id": claims.organization_id,
            "token_version": str(claims.token_version),
        },
    )
    # The policy covers every method and path of the stage, so a cached result of one route
    # does not deny the other route.
    response.allow_all_routes()
    # DEBUG, not INFO: the function behind the authorizer logs the same ids with every request, and a
    # JSON log line costs about as much as verifying the token.
    logger.debug("Allowed", extra={"admin_id": claims.admin_id, "organization_id": claims.organization_id})
    return response.asdict()
