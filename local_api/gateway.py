"""An ASGI app that acts as API Gateway (REST API, Lambda proxy integration) in front of the local functions.

For each request it does what API Gateway and `sam local start-api` do:

1. Match the path and method against the template's Api events. The local URL carries no stage
   prefix, as with `sam local start-api`: `/org/get` is served and `/dev/org/get` is not. An
   unknown path, or a known path with another method, gets the MISSING_AUTHENTICATION_TOKEN
   gateway response, as API Gateway sends: 403 "Missing Authentication Token" unless the
   template overrides it.
2. Respond to an OPTIONS preflight for a known path from the API's Cors setting, without running the
   function. The authorizer runs first only when the API has a DefaultAuthorizer and
   AddDefaultAuthorizerToCorsPreflight is true, the SAM default.
3. Run the route's Lambda authorizer, if any, and check its IAM policy against the method ARN.
   A raised `Exception("Unauthorized")` gives UNAUTHORIZED (401), a Deny or a policy that allows
   nothing matching gives ACCESS_DENIED (403), and any other failure gives AUTHORIZER_FAILURE or
   AUTHORIZER_CONFIGURATION_ERROR (500). On Allow, the policy's `context` plus `principalId`
   becomes `requestContext.authorizer` of the function's event.
4. Run the function and turn its proxy result into the HTTP response. A raised exception, a
   function timeout or a malformed result gives 502 "Internal server error". A call that waited
   longer than API Gateway's 29 s integration timeout for the worker is cancelled before it runs
   and gets INTEGRATION_TIMEOUT (504 "Endpoint request timed out").

Error responses use the API's GatewayResponses: the entry for the type, else DEFAULT_4XX or
DEFAULT_5XX. `$context.error.messageString` in a template becomes the JSON-quoted message.

CORS: API Gateway adds the Cors headers only to the preflight response, so in AWS each function
sets Access-Control-Allow-Origin itself (from CORS_ALLOW_ORIGIN). Like `sam local start-api`, this
runner also gives the API's AllowOrigin to every response that lacks the header.

Differences from API Gateway that a caller may notice:
- Header names reach the function in lower case, because ASGI servers lowercase them.
- Authorizer results are not cached, so ReauthorizeEvery only decides whether a missing
  identity source is rejected before the authorizer runs, as API Gateway does when caching is on.
- Handlers run one at a time in this process (see `local_api.functions.HandlerWorker`), so under
  parallel load a call waits in a queue. The function's Timeout counts from when its handler
  starts, and the 29 s integration timeout bounds only the wait in the queue, so a response can
  take longer than 29 s in all (see `local_api.functions.LocalFunctions`).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from local_api.functions import FunctionTimeoutError, LocalFunctions, QueueTimeoutError
from local_api.lambda_events import build_authorizer_event, build_proxy_event, method_arn
from local_api.template import (
    ApiSpec,
    AuthorizerSpec,
    GatewayResponseSpec,
    RouteSpec,
    SamTemplate,
    TemplateError,
    strip_quotes,
)

logger = logging.getLogger(__name__)

UNAUTHORIZED_MESSAGE = "Unauthorized"
PROXY_RESULT_KEYS = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})
# Headers that the HTTP server computes itself, so a function's values for them are dropped.
SERVER_MANAGED_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})
# The security headers that every function response carries (orgservice.api.app.SECURITY_HEADERS)
# and the template's GatewayResponses repeat. The runner adds them to the responses it builds itself:
# CORS preflights, the 413 for an oversized body, and Swagger UI with its document.
SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# API Gateway REST APIs reject a request payload over 10 MB with 413 ("Payload size" in the Amazon
# API Gateway quotas for REST APIs, not adjustable).
# NOTE: the quota states 10 MB without a byte count, so 10 MiB here is an assumption.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class GatewayError:
    """One kind of error response that API Gateway produces itself, with its defaults."""

    response_type: str
    status_code: int
    message: str | None
    error_type: str


MISSING_AUTHENTICATION_TOKEN = GatewayError(
    "MISSING_AUTHENTICATION_TOKEN", 403, "Missing Authentication Token", "MissingAuthenticationTokenException"
)
UNAUTHORIZED = GatewayError("UNAUTHORIZED", 401, UNAUTHORIZED_MESSAGE, "UnauthorizedException")
ACCESS_DENIED = GatewayError(
    "ACCESS_DENIED", 403, "User is not authorized to access this resource", "AccessDeniedException"
)
EXPLICIT_DENY = GatewayError(
    "ACCESS_DENIED",
    403,
    "User is not authorized to access this resource with an explicit deny",
    "AccessDeniedException",
)
# NOTE: API Gateway's documentation does not give the body of an authorizer failure. The null
# message here (`{"message": null}` without a template) is an assumption, unchecked against AWS.
AUTHORIZER_FAILURE = GatewayError("AUTHORIZER_FAILURE", 500, None, "AuthorizerConfigurationException")
AUTHORIZER_CONFIGURATION_ERROR = GatewayError(
    "AUTHORIZER_CONFIGURATION_ERROR", 500, None, "AuthorizerConfigurationException"
)
# A function that raised, timed out or returned a malformed proxy result. API Gateway has no
# response type of its own for this, so DEFAULT_5XX applies.
INTEGRATION_ERROR = GatewayError("DEFAULT_5XX", 502, "Internal server error", "InternalServerErrorException")
# A function call that did not start within the integration timeout. Without an INTEGRATION_TIMEOUT
# entry in GatewayResponses, DEFAULT_5XX applies with status 504.
# NOTE: the x-amzn-ErrorType value is an assumption, unchecked against AWS.
INTEGRATION_TIMEOUT = GatewayError(
    "INTEGRATION_TIMEOUT", 504, "Endpoint request timed out", "InternalServerErrorException"
)


class MalformedProxyResult(ValueError):
    """The function's result is not a valid Lambda proxy integration response."""


# ---------------------------------------------------------------------------------------------
# Routes


@dataclass(frozen=True)
class CompiledRoute:
    """A route with the regular expression that matches its resource path."""

    spec: RouteSpec
    api: ApiSpec
    pattern: re.Pattern[str]
    # Static routes sort before routes with `{param}`, and those before greedy `{proxy+}` routes.
    rank: int

    @property
    def authorizer(self) -> AuthorizerSpec | None:
        name = self.spec.authorizer or self.api.default_authorizer
        if name is None or name == "NONE":
            return None
        return self.api.authorizers[name]


def _compile_path(path: str) -> tuple[re.Pattern[str], int]:
    parts = []
    rank = 0
    for segment in path.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("+}"):
            parts.append(f"(?P<{segment[1:-2]}>.+)")
            rank = 2
        elif segment.startswith("{") and segment.endswith("}"):
            parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
            rank = max(rank, 1)
        else:
            parts.append(re.escape(segment))
    return re.compile("^/" + "/".join(parts) + "$"), rank


class RouteTable:
    """The routes of every API of the template, all served at `/` of one local server."""

    def __init__(self, template: SamTemplate) -> None:
        self.routes: list[CompiledRoute] = []
        seen: dict[tuple[str, str], str] = {}
        for spec in template.routes:
            key = (spec.path, spec.method)
            if key in seen:
                raise TemplateError(
                    f"{spec.function_id} and {seen[key]} both serve {spec.method} {spec.path}. "
                    "The local runner serves every API at one address, so each route must be unique."
                )
            seen[key] = spec.function_id
            pattern, rank = _compile_path(spec.path)
            self.routes.append(CompiledRoute(spec, template.apis[spec.api_id], pattern, rank))
        self.routes.sort(key=lambda route: route.rank)

    def for_path(self, path: str) -> list[tuple[CompiledRoute, dict[str, str]]]:
        """Return the routes whose resource path matches, best match first, with their path parameters."""
        matches = []
        best_rank = None
        for route in self.routes:
            found = route.pattern.match(path)
            if found is None or (best_rank is not None and route.rank > best_rank):
                continue
            best_rank = route.rank
            matches.append((route, found.groupdict()))
        return matches


# ---------------------------------------------------------------------------------------------
# Authorizer policies


def _wildcard_match(pattern: str, value: str) -> bool:
    """Match an IAM pattern, where `*` matches any run of characters and `?` one character."""
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.fullmatch("".join(parts), value, flags=re.DOTALL) is not None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def evaluate_policy(policy: Mapping[str, Any], resource_arn: str) -> str:
    """Return "Allow", "Deny" (an explicit Deny matched) or "None" (no statement allows) for `execute-api:Invoke`.

    NotAction, NotResource and Condition are not evaluated: a statement that has them is skipped.
    """
    allowed = False
    for statement in _as_list(policy.get("Statement")):
        if not isinstance(statement, Mapping):
            continue
        if any(key in statement for key in ("NotAction", "NotResource", "Condition")):
            logger.warning("Skipping a policy statement with NotAction, NotResource or Condition")
            continue
        actions = [str(action) for action in _as_list(statement.get("Action"))]
        resources = [str(resource) for resource in _as_list(statement.get("Resource"))]
        if not any(_wildcard_match(action.lower(), "execute-api:invoke") for action in actions):
            continue
        if not any(_wildcard_match(resource, resource_arn) for resource in resources):
            continue
        if statement.get("Effect") == "Deny":
            return "Deny"
        if statement.get("Effect") == "Allow":
            allowed = True
    return "Allow" if allowed else "None"


def authorizer_context(result: Mapping[str, Any], latency_ms: int) -> dict[str, Any]:
    """Build `requestContext.authorizer` from an authorizer's result.

    Raises ValueError when the context contains anything but strings, numbers and booleans,
    which API Gateway rejects as an authorizer configuration error.
    NOTE: numbers and booleans are passed on as strings ("1", "true"). This is an assumption
    about API Gateway that was not checked against a deployed API.
    """
    context: dict[str, Any] = {}
    for key, value in (result.get("context") or {}).items():
        if isinstance(value, bool):
            context[key] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            context[key] = str(value)
        else:
            raise ValueError(f"authorizer context value {key!r} is a {type(value).__name__}, not a scalar")
    context["principalId"] = result["principalId"]
    context["integrationLatency"] = latency_ms
    return context


# ---------------------------------------------------------------------------------------------
# Proxy results


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise MalformedProxyResult(f"header value {value!r} is not a string or number")


def response_from_proxy_result(result: Any) -> Response:
    """Turn a Lambda proxy integration result into an HTTP response, as API Gateway does.

    Raises MalformedProxyResult for anything API Gateway would reject with a 502.
    """
    if not isinstance(result, Mapping):
        raise MalformedProxyResult(f"the result is a {type(result).__name__}, not a JSON object")
    unknown = sorted(set(result) - PROXY_RESULT_KEYS)
    if unknown:
        raise MalformedProxyResult(f"unknown keys {unknown}")

    status = result.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedProxyResult(f"statusCode {status!r} is not an HTTP status between 100 and 599")

    body = result.get("body")
    if body is not None and not isinstance(body, str):
        raise MalformedProxyResult(f"body is a {type(body).__name__}, not a string")
    is_base64 = result.get("isBase64Encoded", False)
    if not isinstance(is_base64, bool):
        raise MalformedProxyResult("isBase64Encoded is not a boolean")
    try:
        content = base64.b64decode(body or "", validate=True) if is_base64 else (body or "").encode("utf-8")
    except binascii.Error as error:
        raise MalformedProxyResult(f"body is not valid base64 ({error})") from None

    headers = _merged_headers(result.get("headers"), result.get("multiValueHeaders"))
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))

    response = Response(content=content, status_code=status)
    for name, value in headers:
        if name.lower() not in SERVER_MANAGED_HEADERS:
            response.headers.append(name, value)
    return response


def _merged_headers(single: Any, multi: Any) -> list[tuple[str, str]]:
    """Merge `headers` into `multiValueHeaders`. A pair that is in both appears once."""
    if single is not None and not isinstance(single, Mapping):
        raise MalformedProxyResult("headers is not a JSON object")
    if multi is not None and not isinstance(multi, Mapping):
        raise MalformedProxyResult("multiValueHeaders is not a JSON object")

    merged: list[tuple[str, str]] = []
    for name, values in (multi or {}).items():
        if not isinstance(values, list):
            raise MalformedProxyResult(f"multiValueHeaders[{name!r}] is not a list")
        merged.extend((str(name), _header_value(value)) for value in values)
    existing = {(name.lower(), value) for name, value in merged}
    for name, value in (single or {}).items():
        pair = (str(name), _header_value(value))
        if (pair[0].lower(), pair[1]) not in existing:
            merged.append(pair)
    return merged


# ---------------------------------------------------------------------------------------------
# The gateway


@dataclass
class RequestState:
    """Per-request state: the request, its id, its API and stage, and the function that served it."""

    request: Request
    request_id: str
    api: ApiSpec
    stage: str
    function_id: str | None = None


class LocalGateway:
    """The ASGI app that serves the template's APIs, as the module docstring describes."""

    def __init__(self, template: SamTemplate, functions: LocalFunctions) -> None:
        if not template.apis:
            raise TemplateError(f"{template.path.name} declares no Api events, so there is nothing to serve.")
        self.template = template
        self.functions = functions
        self.routes = RouteTable(template)
        # Requests that match no route get the gateway responses of the first API.
        self.default_api = next(iter(template.apis.values()))
        self._warned_expressions: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _run_lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise RuntimeError(f"The local API serves HTTP only, not {scope['type']}.")
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        state = RequestState(request, str(uuid.uuid4()), self.default_api, self.default_api.stage)
        try:
            response = await self._reject_oversized_body(state) or await self._dispatch(state)
        except Exception:
            logger.exception(
                "The local API failed on %s %s (request_id=%s)", request.method, request.url.path, state.request_id
            )
            response = self.gateway_response(state, INTEGRATION_ERROR)

        self._add_common_headers(state, response)
        logger.info(
            '%s "%s %s" %d %.1f ms (%s, request_id=%s)',
            request.client.host if request.client else "-",
            request.method,
            request.url.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
            state.function_id or "no function",
            state.request_id,
        )
        return response

    async def _reject_oversized_body(self, state: RequestState) -> Response | None:
        """Return a 413 for a body over MAX_PAYLOAD_BYTES, else None.

        A declared Content-Length decides without reading the body; a chunked body is read first.
        NOTE: API Gateway's own 413 (the REQUEST_TOO_LARGE gateway response, which a REST API
        cannot customize) has API Gateway's default body, but the runner responds in this API's
        `{"detail": ...}` shape.
        """
        request = state.request
        declared = request.headers.get("content-length", "")
        size = int(declared) if declared.isdigit() else len(await request.body())
        if size <= MAX_PAYLOAD_BYTES:
            return None

        logger.info(
            "Rejected a %d-byte body, over the %d-byte payload limit (request_id=%s)",
            size,
            MAX_PAYLOAD_BYTES,
            state.request_id,
        )
        detail = (
            f"The request body is {size} bytes; API Gateway accepts at most {MAX_PAYLOAD_BYTES} bytes (10 MB), "
            "so send a smaller body."
        )
        return JSONResponse({"detail": detail}, status_code=413, headers=SECURITY_HEADERS)

    async def _dispatch(self, state: RequestState) -> Response:
        request = state.request
        method = request.method.upper()
        candidates = self.routes.for_path(request.url.path)
        if not candidates:
            return self.gateway_response(state, MISSING_AUTHENTICATION_TOKEN)

        state.api = candidates[0][0].api
        state.stage = state.api.stage
        route, path_parameters = _select_method(candidates, method)
        if route is None and method == "OPTIONS" and state.api.cors is not None:
            return await self._preflight(state, candidates)
        if route is None:
            return self.gateway_response(state, MISSING_AUTHENTICATION_TOKEN)

        event = await self._proxy_event(state, route, path_parameters)
        if route.authorizer is not None:
            outcome = await self._authorize(state, route.authorizer, event)
            if isinstance(outcome, Response):
                return outcome
            event["requestContext"]["authorizer"] = outcome

        state.function_id = route.spec.function_id
        return await self._run_function(state, route.spec.function_id, event)

    async def _preflight(self, state: RequestState, candidates: list) -> Response:
        cors = state.api.cors
        assert cors is not None
        if state.api.default_authorizer and state.api.authorize_preflight:
            authorizer = state.api.authorizers[state.api.default_authorizer]
            route, path_parameters = candidates[0]
            event = await self._proxy_event(state, route, path_parameters)
            outcome = await self._authorize(state, authorizer, event)
            if isinstance(outcome, Response):
                return outcome

        # In AWS the preflight is SAM's mock integration, which sends only the CORS headers
        # (SAM's Cors setting has no field for others), so only the runner adds SECURITY_HEADERS here.
        headers = {
            **SECURITY_HEADERS,
            "Access-Control-Allow-Origin": cors.allow_origin,
            "Content-Type": "application/json",
        }
        if cors.allow_methods is not None:
            headers["Access-Control-Allow-Methods"] = cors.allow_methods
        else:
            # NOTE: SAM's documentation does not say what an omitted AllowMethods allows. The
            # methods of the path plus OPTIONS is an assumption.
            methods = sorted({route.spec.method for route, _ in candidates} | {"OPTIONS"})
            headers["Access-Control-Allow-Methods"] = ",".join(methods)
        if cors.allow_headers is not None:
            headers["Access-Control-Allow-Headers"] = cors.allow_headers
        if cors.max_age is not None:
            headers["Access-Control-Max-Age"] = cors.max_age
        if cors.allow_credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        return Response(status_code=200, headers=headers)

    async def _proxy_event(self, state: RequestState, route: CompiledRoute, path_parameters: dict) -> dict[str, Any]:
        request = state.request
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for raw_name, raw_value in request.headers.raw:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            headers[name] = value
            multi_headers.setdefault(name, []).append(value)
        # API Gateway adds these for the function; the local values describe the local connection.
        client_ip = request.client.host if request.client else "127.0.0.1"
        forwarded = {
            "X-Forwarded-For": client_ip,
            "X-Forwarded-Port": str(request.url.port or 80),
            "X-Forwarded-Proto": request.url.scheme,
        }
        for name, value in forwarded.items():
            headers[name] = value
            multi_headers[name] = [value]

        query: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            query.setdefault(key, []).append(value)

        event = build_proxy_event(
            method=request.method.upper(),
            path=request.url.path,
            resource=route.spec.path,
            stage=state.stage,
            headers=headers,
            query=query,
            body=await request.body(),
            source_ip=client_ip,
            request_id=state.request_id,
        )
        event["multiValueHeaders"] = multi_headers
        event["pathParameters"] = path_parameters or None
        context = event["requestContext"]
        context["domainName"] = headers.get("host", "127.0.0.1")
        context["identity"]["userAgent"] = headers.get("user-agent", "")
        return event

    async def _authorize(
        self, state: RequestState, authorizer: AuthorizerSpec, proxy_event: dict[str, Any]
    ) -> dict[str, Any] | Response:
        """Run the authorizer and return `requestContext.authorizer` on Allow, else the error response."""
        missing = _missing_identity_source(authorizer, proxy_event)
        if missing:
            logger.info(
                "No %s in the request, so %s rejects it (request_id=%s)", missing, authorizer.name, state.request_id
            )
            return self.gateway_response(state, UNAUTHORIZED)

        event = _authorizer_event(authorizer, proxy_event)
        started = time.perf_counter()
        try:
            result = await self._call(state, authorizer.function_id, event)
        except (FunctionTimeoutError, QueueTimeoutError) as error:
            logger.error("Authorizer %s timed out: %s (request_id=%s)", authorizer.function_id, error, state.request_id)
            return self.gateway_response(state, AUTHORIZER_FAILURE)
        except Exception as error:
            if str(error) == UNAUTHORIZED_MESSAGE:
                logger.info(
                    "Authorizer %s rejected the request (request_id=%s)", authorizer.function_id, state.request_id
                )
                return self.gateway_response(state, UNAUTHORIZED)
            logger.error(
                "Authorizer %s raised %s (request_id=%s)",
                authorizer.function_id,
                type(error).__name__,
                state.request_id,
                exc_info=error,
            )
            return self.gateway_response(state, AUTHORIZER_FAILURE)
        latency_ms = round((time.perf_counter() - started) * 1000)

        if not _is_authorizer_result(result):
            logger.error(
                "Authorizer %s returned no principalId and policyDocument (request_id=%s)",
                authorizer.function_id,
                state.request_id,
            )
            return self.gateway_response(state, AUTHORIZER_CONFIGURATION_ERROR)

        decision = evaluate_policy(result["policyDocument"], event["methodArn"])
        if decision != "Allow":
            logger.info(
                "Authorizer %s policy gives %s for %s (request_id=%s)",
                authorizer.function_id,
                "an explicit Deny" if decision == "Deny" else "no Allow",
                event["methodArn"],
                state.request_id,
            )
            return self.gateway_response(state, EXPLICIT_DENY if decision == "Deny" else ACCESS_DENIED)

        try:
            return authorizer_context(result, latency_ms)
        except ValueError as error:
            logger.error(
                "Authorizer %s returned an invalid context: %s (request_id=%s)",
                authorizer.function_id,
                error,
                state.request_id,
            )
            return self.gateway_response(state, AUTHORIZER_CONFIGURATION_ERROR)

    async def _run_function(self, state: RequestState, function_id: str, event: dict[str, Any]) -> Response:
        try:
            result = await self._call(state, function_id, event)
        except QueueTimeoutError:
            # LocalFunctions has logged the cancelled call with the request id.
            return self.gateway_response(state, INTEGRATION_TIMEOUT)
        except FunctionTimeoutError as error:
            logger.error("%s (request_id=%s)", error, state.request_id)
            return self.gateway_response(state, INTEGRATION_ERROR)
        except Exception as error:
            logger.error(
                "%s raised %s (request_id=%s)", function_id, type(error).__name__, state.request_id, exc_info=error
            )
            return self.gateway_response(state, INTEGRATION_ERROR)

        try:
            return response_from_proxy_result(result)
        except MalformedProxyResult as error:
            logger.error(
                "%s returned a malformed proxy result: %s (request_id=%s)", function_id, error, state.request_id
            )
            return self.gateway_response(state, INTEGRATION_ERROR)

    async def _call(self, state: RequestState, function_id: str, event: dict[str, Any]) -> Any:
        invocation = self.functions.submit(function_id, event, request_id=state.request_id)
        return await self.functions.wait_async(invocation)

    def gateway_response(self, state: RequestState, error: GatewayError) -> Response:
        """Build the response for a gateway error from the API's GatewayResponses, as API Gateway does."""
        responses = state.api.gateway_responses
        spec = responses.get(error.response_type)
        fallback = responses.get("DEFAULT_4XX" if error.status_code < 500 else "DEFAULT_5XX")
        status = spec.status_code if spec and spec.status_code else error.status_code
        spec = spec or fallback or GatewayResponseSpec(None, {}, {})

        content_type, template = next(iter(spec.templates.items()), ("application/json", None))
        if template is None:
            template = '{"message":$context.error.messageString}'
        body = self._render_template(template, state, error)

        response = Response(content=body.encode("utf-8"), status_code=status)
        response.headers["Content-Type"] = content_type
        response.headers["x-amzn-ErrorType"] = error.error_type
        for name, expression in spec.headers.items():
            value = self._header_expression(expression, state)
            if value is not None:
                response.headers[name] = value
        return response

    @staticmethod
    def _render_template(template: str, state: RequestState, error: GatewayError) -> str:
        substitutions = {
            "$context.error.messageString": json.dumps(error.message),
            "$context.error.message": error.message or "",
            "$context.error.responseType": error.response_type,
            "$context.requestId": state.request_id,
            "$context.stage": state.stage,
        }
        # Longer names first, so $context.error.messageString is not read as $context.error.message.
        for name in sorted(substitutions, key=len, reverse=True):
            template = template.replace(name, substitutions[name])
        return template

    def _header_expression(self, expression: str, state: RequestState) -> str | None:
        if len(expression) >= 2 and expression[0] == expression[-1] == "'":
            return strip_quotes(expression)
        prefix, _, name = expression.rpartition(".")
        if prefix == "method.request.header":
            return state.request.headers.get(name)
        if prefix == "method.request.querystring":
            return state.request.query_params.get(name)
        if expression not in self._warned_expressions:
            self._warned_expressions.add(expression)
            logger.warning("Gateway response header value %s is not supported locally, so it is left out", expression)
        return None

    @staticmethod
    def _add_common_headers(state: RequestState, response: Response) -> None:
        response.headers["x-amzn-RequestId"] = state.request_id
        cors = state.api.cors
        if cors is not None and "access-control-allow-origin" not in response.headers:
            response.headers["Access-Control-Allow-Origin"] = cors.allow_origin


def _select_method(candidates: list, method: str) -> tuple[CompiledRoute | None, dict[str, str]]:
    for route, parameters in candidates:
        if route.spec.method == method:
            return route, parameters
    for route, parameters in candidates:
        # An ANY route does not take OPTIONS when Cors is on, because SAM adds an OPTIONS method then.
        if route.spec.method == "ANY" and not (method == "OPTIONS" and route.api.cors is not None):
            return route, parameters
    return None, {}


def _missing_identity_source(authorizer: AuthorizerSpec, proxy_event: Mapping[str, Any]) -> str | None:
    # API Gateway checks identity sources before a TOKEN authorizer always, and before a REQUEST
    # authorizer only when caching is on (ReauthorizeEvery above 0).
    if authorizer.payload_type == "REQUEST" and authorizer.ttl_seconds == 0:
        return None
    headers = {name.lower(): value for name, value in (proxy_event.get("headers") or {}).items()}
    for name in authorizer.identity_headers:
        if not headers.get(name.lower()):
            return f"{name} header"
    query = proxy_event.get("queryStringParameters") or {}
    for name in authorizer.identity_query_strings:
        if not query.get(name):
            return f"{name} query string parameter"
    return None


def _authorizer_event(authorizer: AuthorizerSpec, proxy_event: dict[str, Any]) -> dict[str, Any]:
    if authorizer.payload_type == "REQUEST":
        return build_authorizer_event(proxy_event)
    headers = {name.lower(): value for name, value in (proxy_event.get("headers") or {}).items()}
    return {
        "type": "TOKEN",
        "authorizationToken": headers.get(authorizer.identity_headers[0].lower(), ""),
        "methodArn": method_arn(
            method=proxy_event["httpMethod"],
            path=proxy_event["path"],
            stage=proxy_event["requestContext"]["stage"],
        ),
    }


def _is_authorizer_result(result: Any) -> bool:
    return (
        isinstance(result, Mapping)
        and isinstance(result.get("principalId"), str)
        and isinstance(result.get("policyDocument"), Mapping)
        and (result.get("context") is None or isinstance(result.get("context"), Mapping))
    )


async def _run_lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
