"""The one place that maps errors to HTTP responses with the body `{"detail": "<sentence>"}`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import ConnectionFailure, ExecutionTimeout, WTimeoutError
from starlette.exceptions import HTTPException

from orgservice.core.config import ConfigurationError
from orgservice.errors import (
    AuthenticationError,
    ChangeInProgressError,
    ChangeStillRunningError,
    ConflictError,
    NotFoundError,
    ServiceError,
    TooManyAttemptsError,
)

logger = Logger(child=True)

SERVICE_ERROR_STATUS: dict[type[ServiceError], int] = {
    AuthenticationError: 401,
    NotFoundError: 404,
    ConflictError: 409,
    TooManyAttemptsError: 429,
    ChangeStillRunningError: 503,
}

DATABASE_UNAVAILABLE = "The database is unavailable or did not reply in time; retry in a few seconds."
# The detail of the HTTPException that FastAPI raises when it cannot decode a request body.
BODY_PARSE_FAILED = "There was an error parsing the body"
BODY_TOO_DEEP = (
    "Invalid request. The request body nests arrays or objects too deeply to parse; "
    "send a JSON object with the fields of this endpoint."
)
INTERNAL_ERROR = (
    "The server failed to handle the request; retry later, and report request id {request_id} if it persists."
)
MISCONFIGURED = (
    "The service is misconfigured and cannot handle requests; report request id {request_id} to its operator."
)


def request_id_of(request: Request) -> str:
    """Return API Gateway's request id of the event behind the request, which every log line carries too."""
    event = request.scope.get("aws.event") or {}
    return str((event.get("requestContext") or {}).get("requestId") or "unknown")


def error_response(status_code: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status_code, headers=headers)


def _status_of(error: ServiceError) -> int:
    for error_class in type(error).__mro__:
        if error_class in SERVICE_ERROR_STATUS:
            return SERVICE_ERROR_STATUS[error_class]
    return 400


def _field_name(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "header")]
    return ".".join(parts)


def _describe(error: dict[str, Any]) -> str:
    """Turn one pydantic error into a phrase that names the field and the fix."""
    location = tuple(error.get("loc", ()))
    field = _field_name(location)
    kind = error.get("type", "")
    where = "query string" if location[:1] == ("query",) else "JSON body"

    if kind == "json_invalid":
        return "the request body is not valid JSON; send a JSON object"
    if kind == "missing" and not field:
        return "the request body is missing; send a JSON object"
    if kind == "missing":
        return f"'{field}' is missing; add it to the {where}"
    if kind in ("value_error", "assertion_error"):
        message = str(error.get("msg", "")).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if field.endswith("email"):
            reason = message.removeprefix("value is not a valid email address: ").rstrip(".")
            return f"'{field}' is not a valid email address: {reason}"
        return f"'{field}' {message}" if field else message
    if not field and isinstance(error.get("input"), bytes):
        # FastAPI parses a body as JSON only when the request declares a JSON content type, and
        # otherwise passes the raw bytes on. A JSON string that it parsed arrives as str instead.
        return "the request body must be a JSON object sent with 'Content-Type: application/json'"
    if not field:
        return "the request body must be a JSON object, not an array or a single value"
    if kind == "extra_forbidden":
        return f"'{field}' is not an accepted field; remove it"
    if kind in ("string_type", "string_sub_type"):
        return f"'{field}' must be a string"
    if kind == "string_unicode":
        return f"'{field}' contains an unpaired surrogate such as \\ud800, which is not valid text; remove it"
    if kind == "string_too_long":
        limit = error.get("ctx", {}).get("max_length")
        return f"'{field}' is too long; use at most {limit} characters"
    return f"'{field}' is invalid ({error.get('msg', 'invalid value')})"


def describe_validation_error(error: RequestValidationError) -> str:
    """Return one sentence per problem, after "Invalid request.", in the order pydantic found them."""
    phrases = dict.fromkeys(_describe(item) for item in error.errors())
    sentences = [phrase[0].upper() + phrase[1:] + "." for phrase in phrases]
    return " ".join(["Invalid request.", *sentences])


def register_error_handlers(app: FastAPI) -> None:
    """Install the handlers that give every error response the same JSON shape."""

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, error: ServiceError) -> JSONResponse:
        status_code = _status_of(error)
        logger.info("Request failed", extra={"status": status_code, "error": type(error).__name__})
        headers = None
        if isinstance(error, TooManyAttemptsError | ChangeInProgressError | ChangeStillRunningError):
            headers = {"Retry-After": str(error.retry_after)}
        return error_response(status_code, error.message, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        detail = describe_validation_error(error)
        logger.info("Request rejected by validation", extra={"status": 422, "detail": detail})
        return error_response(422, detail)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
        if error.status_code == 400 and error.detail == BODY_PARSE_FAILED:
            # FastAPI raises this for a body that is not UTF-8, or that nests so deeply that the
            # json module raises RecursionError, and chains the original exception.
            if isinstance(error.__cause__, RecursionError):
                logger.info("Request rejected: body nested too deeply", extra={"status": 422})
                return error_response(422, BODY_TOO_DEEP)
            logger.info("Request rejected: undecodable body", extra={"status": 422})
            return error_response(422, "Invalid request. The request body is not valid JSON; send a UTF-8 JSON object.")
        logger.info("Request rejected", extra={"status": error.status_code, "detail": str(error.detail)})
        return error_response(error.status_code, str(error.detail), headers=getattr(error, "headers", None))

    @app.exception_handler(ConnectionFailure)
    @app.exception_handler(ExecutionTimeout)
    @app.exception_handler(WTimeoutError)
    async def _database_unavailable(request: Request, error: Exception) -> JSONResponse:
        logger.error(
            "MongoDB is unreachable or timed out",
            extra={"error": type(error).__name__, "reason": str(error)[:300], "request_id": request_id_of(request)},
        )
        return error_response(503, DATABASE_UNAVAILABLE, headers={"Retry-After": "5"})

    @app.exception_handler(ConfigurationError)
    async def _configuration_error(request: Request, error: ConfigurationError) -> JSONResponse:
        logger.error(
            "The function is misconfigured", extra={"reason": str(error), "request_id": request_id_of(request)}
        )
        return error_response(500, MISCONFIGURED.format(request_id=request_id_of(request)))

    @app.exception_handler(Exception)
    async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
        # The response names only the request id, and the log line carries it with the exception and its trace.
        request_id = request_id_of(request)
        logger.exception("Unhandled error", extra={"error": type(error).__name__, "request_id": request_id})
        return error_response(500, INTERNAL_ERROR.format(request_id=request_id))
