"""Warm paths, run in this process through the handlers, with events built as API Gateway sends them."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import bcrypt
import jwt
from pymongo import MongoClient

from bench.stats import interleaved
from local_api.lambda_events import LambdaContext, build_authorizer_event, build_proxy_event, load_handler
from local_api.template import SamTemplate

PASSWORD = "bench-password-1"
UNKNOWN_EMAIL = "nobody@bench.example"


class BenchSetupError(RuntimeError):
    """A handler returned an unexpected status code for a set-up request."""


@dataclass
class Service:
    """The template's handlers, each loaded once and then reused, as in a warm container."""

    template: SamTemplate

    def __post_init__(self) -> None:
        self._handlers: dict[str, Callable[[dict[str, Any], Any], Any]] = {}

    def handler(self, function_id: str) -> Callable[[dict[str, Any], Any], Any]:
        if function_id not in self._handlers:
            function = self.template.function(function_id)
            self._handlers[function_id] = load_handler(function.code_uri, function.handler)
        return self._handlers[function_id]

    def call(self, function_id: str, event: dict[str, Any]) -> Any:
        return self.handler(function_id)(event, LambdaContext(function_name=function_id))

    def call_ok(self, function_id: str, event: dict[str, Any]) -> dict[str, Any]:
        response = self.call(function_id, event)
        if response["statusCode"] >= 300:
            raise BenchSetupError(f"{function_id} returned {response['statusCode']}: {response['body']}")
        return json.loads(response["body"])

    def create(self, name: str, email: str) -> dict[str, Any]:
        body = {"organization_name": name, "email": email, "password": PASSWORD}
        return self.call_ok("CreateOrganizationFunction", _json_event("POST", "/org/create", body))

    def login_event(self, email: str) -> dict[str, Any]:
        return _json_event("POST", "/org/admin/login", {"email": email, "password": PASSWORD})

    def token(self, email: str) -> str:
        return self.call_ok("AdminLoginFunction", self.login_event(email))["access_token"]

    def authorizer_event(self, token: str, method: str, path: str) -> dict[str, Any]:
        proxy = build_proxy_event(method=method, path=path, headers={"Authorization": f"Bearer {token}"})
        return build_authorizer_event(proxy)

    def authorize(self, token: str, method: str, path: str) -> dict[str, Any]:
        return self.call("AuthorizerFunction", self.authorizer_event(token, method, path))

    def rename_event(self, token: str, name: str) -> dict[str, Any]:
        """Build the PUT /org/update event that the gateway passes on once the authorizer has allowed the call."""
        context = self.authorize(token, "PUT", "/org/update")["context"]
        return _json_event("PUT", "/org/update", {"organization_name": name}, authorizer_context=context)


def _json_event(method: str, path: str, body: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return build_proxy_event(
        method=method, path=path, headers={"Content-Type": "application/json"}, body=json.dumps(body), **extra
    )


def authorizer_decision(
    service: Service, token: str, *, key: str, issuer: str, audience: str, repeats: int, batch: int
) -> dict[str, float]:
    event = service.authorizer_event(token, "PUT", "/org/update")

    def authorizer() -> None:
        service.call("AuthorizerFunction", event)

    def decode_only() -> None:
        jwt.decode(token, key, algorithms=["HS256"], issuer=issuer, audience=audience)

    return interleaved({"authorizer": authorizer, "jwt.decode": decode_only}, repeats=repeats, batch=batch)


def get_organization(
    service: Service, raw: MongoClient, database: str, name: str, slug: str, *, repeats: int, batch: int
) -> dict[str, float]:
    """Time GET /org/get, the find_one it cannot avoid, and the hello app's request through Mangum and FastAPI."""
    event = build_proxy_event(method="GET", path="/org/get", query={"organization_name": [name]})
    organizations = raw[database]["organizations"]
    hello_handler = load_handler("bench/baseline")
    hello_event = build_proxy_event(method="GET", path="/hello")

    def hello() -> None:
        assert hello_handler(hello_event, LambdaContext(function_name="hello"))["statusCode"] == 200

    def through_service() -> None:
        response = service.call("GetOrganizationFunction", event)
        assert response["statusCode"] == 200, response

    def find_one() -> None:
        assert organizations.find_one({"slug": slug}) is not None

    runs = {"GET /org/get": through_service, "find_one": find_one, "hello request": hello}
    return interleaved(runs, repeats=repeats, batch=batch)


def login(service: Service, email: str, password_hash: bytes, *, repeats: int) -> dict[str, float]:
    known = service.login_event(email)
    unknown = service.login_event(UNKNOWN_EMAIL)

    def known_login() -> None:
        assert service.call("AdminLoginFunction", known)["statusCode"] == 200

    def unknown_login() -> None:
        assert service.call("AdminLoginFunction", unknown)["statusCode"] == 401

    def checkpw() -> None:
        assert bcrypt.checkpw(PASSWORD.encode(), password_hash)

    runs = {"login": known_login, "unknown-email login": unknown_login, "bcrypt.checkpw": checkpw}
    return interleaved(runs, repeats=repeats)
