"""Call the Lambda handlers with the events API Gateway sends, and decode their responses."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from local_api.lambda_events import LambdaContext, build_authorizer_event, build_proxy_event, load_handler

DEFAULT_PASSWORD = "correct-horse-42"
JSON_HEADERS = {"Content-Type": "application/json"}

_NO_JSON = object()


def handler_of(function: str) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    return load_handler(f"functions/{function}")


@dataclass(frozen=True)
class ApiResponse:
    """Status, headers (names lowercased) and decoded JSON body of one handler response."""

    status: int
    headers: dict[str, str]
    body: Any

    @property
    def detail(self) -> str:
        return self.body["detail"]


@dataclass(frozen=True)
class Tenant:
    """An organization created through the create handler, with the credentials of its admin."""

    name: str
    email: str
    password: str
    organization_id: str
    admin_id: str
    collection_name: str

    @property
    def context(self) -> dict[str, str]:
        """The request context that the authorizer sets for this admin's token."""
        return {"admin_id": self.admin_id, "organization_id": self.organization_id, "token_version": "0"}


def invoke(
    function: str,
    *,
    method: str,
    path: str,
    json_body: Any = _NO_JSON,
    body: str | bytes | None = None,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, list[str]] | None = None,
    authorizer_context: Mapping[str, Any] | None = None,
    source_ip: str = "127.0.0.1",
) -> ApiResponse:
    """Run the handler in functions/<function> on one proxy event, sending `json_body` as JSON when given."""
    if json_body is not _NO_JSON:
        body = json.dumps(json_body)
        headers = {**JSON_HEADERS, **(headers or {})}

    event = build_proxy_event(
        method=method,
        path=path,
        headers=headers,
        query=query,
        body=body,
        authorizer_context=authorizer_context,
        source_ip=source_ip,
    )
    result = handler_of(function)(event, LambdaContext(function_name=function))

    text = result.get("body") or ""
    if result.get("isBase64Encoded"):
        text = base64.b64decode(text).decode("utf-8")
    response_headers = {name.lower(): value for name, value in (result.get("headers") or {}).items()}
    body = json.loads(text) if text else None
    return ApiResponse(status=result["statusCode"], headers=response_headers, body=body)


def create_organization(organization_name: Any, email: Any, password: Any = DEFAULT_PASSWORD) -> ApiResponse:
    return invoke(
        "create_organization",
        method="POST",
        path="/org/create",
        json_body={"organization_name": organization_name, "email": email, "password": password},
    )


def login(email: Any, password: Any, *, source_ip: str = "127.0.0.1") -> ApiResponse:
    body = {"email": email, "password": password}
    return invoke("admin_login", method="POST", path="/org/admin/login", json_body=body, source_ip=source_ip)


def get_organization(organization_name: str) -> ApiResponse:
    return invoke("get_organization", method="GET", path="/org/get", query={"organization_name": [organization_name]})


def update_organization(context: Mapping[str, Any] | None, fields: Any) -> ApiResponse:
    return invoke("update_organization", method="PUT", path="/org/update", json_body=fields, authorizer_context=context)


def delete_organization(context: Mapping[str, Any] | None) -> ApiResponse:
    return invoke("delete_organization", method="DELETE", path="/org/delete", authorizer_context=context)


def authorize(headers: Mapping[str, str] | None, *, stage: str = "Prod", method: str = "PUT") -> dict[str, Any]:
    """Run the authorizer on the REQUEST event for a call to /org/update (or /org/delete) with `headers`."""
    path = "/org/update" if method == "PUT" else "/org/delete"
    proxy = build_proxy_event(method=method, path=path, headers=headers, stage=stage)
    handler = handler_of("authorizer")
    return handler(build_authorizer_event(proxy), LambdaContext(function_name="authorizer"))


def register(name: str, email: str, password: str = DEFAULT_PASSWORD) -> Tenant:
    """Create an organization through the handler, failing the test unless it returns 201."""
    response = create_organization(name, email, password)
    assert response.status == 201, response.body

    organization = response.body["organization"]
    return Tenant(
        name=organization["organization_name"],
        email=organization["admin_email"],
        password=password,
        organization_id=organization["id"],
        admin_id=response.body["admin_id"],
        collection_name=organization["collection_name"],
    )


def run_concurrently[T](calls: list[Callable[[], T]]) -> list[T]:
    """Run every call in its own thread, released together by a barrier, and return their results.

    Mangum runs the app on the thread's current event loop, and only the main thread has one by
    default, so each worker thread gets a loop of its own.
    """
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            barrier.wait(timeout=30)
            return call()
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    with ThreadPoolExecutor(max_workers=len(calls)) as executor:
        return list(executor.map(run, calls))
