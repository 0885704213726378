"""The one factory that builds each function's FastAPI app and its Lambda handler."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from fastapi import APIRouter, FastAPI, Request
from mangum import Mangum
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orgservice.api.errors import INTERNAL_ERROR, error_response, register_error_handlers, request_id_of
from orgservice.core.config import ConfigurationError, get_settings
from orgservice.observability import metrics, trace_mongodb, tracer

logger = Logger(child=True)

SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _allowed_origin() -> str | None:
    try:
        return get_settings().cors_allow_origin
    except ConfigurationError:
        # The request itself already failed on the same settings, was logged and got a 500.
        return None


class AccessLogMiddleware:
    """Adds the security and CORS headers to every response and logs one line per request.

    A plain ASGI middleware: Starlette's BaseHTTPMiddleware runs the app in a second task that
    streams the response through a memory channel, which costs more than the rest of a warm request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        response = {"status": 500, "started": False}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"], response["started"] = message["status"], True
                headers = MutableHeaders(scope=message)
                headers.update(SECURITY_HEADERS)
                # With a Lambda proxy integration, API Gateway's CORS setting covers only the preflight,
                # so every response of the function carries the allowed origin itself.
                allowed_origin = _allowed_origin()
                if allowed_origin:
                    headers["Access-Control-Allow-Origin"] = allowed_origin
                    # Browsers hide response headers outside the CORS safelist unless the response names them.
                    headers["Access-Control-Expose-Headers"] = "Retry-After"
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as error:
            # Errors that escape the exception handlers still return the JSON shape, never a trace.
            # The response names only the request id, and the log line carries it with the trace.
            request_id = request_id_of(Request(scope))
            logger.exception("Unhandled error", extra={"error": type(error).__name__, "request_id": request_id})
            if response["started"]:
                raise
            detail = INTERNAL_ERROR.format(request_id=request_id)
            await error_response(500, detail)(scope, receive, send_with_headers)

        logger.info(
            "Request handled",
            extra={
                "method": scope["method"],
                "route": (scope.get("aws.event") or {}).get("resource") or scope["path"],
                "status": response["status"],
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )


def create_app(*routers: APIRouter, title: str) -> FastAPI:
    """Build an app with the shared error mapping, security headers and one access log line per request."""
    # Before any MongoClient exists, so that every MongoDB command becomes a trace subsegment.
    trace_mongodb()
    app = FastAPI(title=title, docs_url=None, redoc_url=None)
    register_error_handlers(app)
    for router in routers:
        app.include_router(router)

    app.add_middleware(AccessLogMiddleware)
    return app


def create_handler(app: FastAPI, logger: Logger) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """Wrap the app for API Gateway REST events.

    Every log line carries API Gateway's request id as correlation id, and the admin and organization
    ids that the authorizer verified. The handler is traced, without its response, which can hold a
    token, and the metrics that the request counted are flushed when it returns.
    """
    # The REST API event's "path" carries no stage prefix, so routes match under /Prod and any other stage.
    adapter = Mangum(app, lifespan="off")

    # Mangum logs its own plain-text line per request through the root logger, and Lambda prints
    # that line beside the JSON access line above. Mangum's warnings and errors still get through.
    logging.getLogger("mangum").setLevel(logging.WARNING)

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
        for key in ("admin_id", "organization_id"):
            if authorizer.get(key):
                logger.append_keys(**{key: authorizer[key]})
        return adapter(event, context)

    return handler
