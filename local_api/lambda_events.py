"""API Gateway REST (v1) proxy and REQUEST authorizer events, Lambda contexts, and handler loading.

The local runner, `make invoke` and the tests all build their events here, so they match what
API Gateway sends to the functions in AWS.
"""

from __future__ import annotations

import base64
import importlib.util
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAYER_PATH = ROOT / "layers" / "common"

LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT_ID = "123456789012"
LOCAL_API_ID = "localapi01"

Handler = Callable[[dict[str, Any], Any], Any]

_LOAD_LOCK = threading.Lock()


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that Powertools and Mangum read."""

    function_name: str = "local-function"
    memory_limit_in_mb: int = 512
    timeout_seconds: int = 10
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started_at: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{self.function_name}"

    @property
    def function_version(self) -> str:
        return "$LATEST"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self.started_at
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


def build_proxy_event(
    *,
    method: str,
    path: str,
    resource: str | None = None,
    stage: str = "Prod",
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, list[str]] | None = None,
    body: bytes | str | None = None,
    source_ip: str = "127.0.0.1",
    authorizer_context: Mapping[str, Any] | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Build the event that an API Gateway REST API proxy integration sends to a function."""
    headers = dict(headers or {})
    request_id = request_id or str(uuid.uuid4())
    is_base64 = False
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            body = base64.b64encode(body).decode("ascii")
            is_base64 = True
    body = body or None

    query_lists = {key: list(values) for key, values in (query or {}).items()}
    request_context: dict[str, Any] = {
        "accountId": LOCAL_ACCOUNT_ID,
        "apiId": LOCAL_API_ID,
        "domainName": headers.get("Host", "127.0.0.1"),
        "httpMethod": method,
        "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent", "")},
        "path": f"/{stage}{path}",
        "protocol": "HTTP/1.1",
        "requestId": request_id,
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
        "requestTimeEpoch": int(time.time() * 1000),
        "resourcePath": resource or path,
        "stage": stage,
    }
    if authorizer_context is not None:
        request_context["authorizer"] = dict(authorizer_context)

    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method,
        "headers": headers or None,
        "multiValueHeaders": {key: [value] for key, value in headers.items()} or None,
        "queryStringParameters": {key: values[-1] for key, values in query_lists.items()} or None,
        "multiValueQueryStringParameters": query_lists or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": request_context,
        "body": body,
        "isBase64Encoded": is_base64,
    }


def method_arn(*, method: str, path: str, stage: str = "Prod") -> str:
    """Return the execute-api ARN that API Gateway names in a REQUEST authorizer event."""
    return f"arn:aws:execute-api:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:{LOCAL_API_ID}/{stage}/{method}{path}"


def build_authorizer_event(proxy_event: Mapping[str, Any]) -> dict[str, Any]:
    """Build the REQUEST authorizer event that API Gateway sends before the proxy event.

    The methodArn ends with the request's path, path parameter values filled in, not the resource template.
    """
    context = proxy_event["requestContext"]
    return {
        "type": "REQUEST",
        "methodArn": method_arn(method=proxy_event["httpMethod"], path=proxy_event["path"], stage=context["stage"]),
        "resource": proxy_event["resource"],
        "path": proxy_event["path"],
        "httpMethod": proxy_event["httpMethod"],
        "headers": proxy_event.get("headers") or {},
        "multiValueHeaders": proxy_event.get("multiValueHeaders") or {},
        "queryStringParameters": proxy_event.get("queryStringParameters") or {},
        "multiValueQueryStringParameters": proxy_event.get("multiValueQueryStringParameters") or {},
        "pathParameters": {},
        "stageVariables": {},
        "requestContext": {key: value for key, value in context.items() if key != "authorizer"},
    }


def ensure_layer_on_path() -> None:
    """Put the layer's package on sys.path, as Lambda does with /opt/python."""
    layer = str(LAYER_PATH)
    if layer not in sys.path:
        sys.path.insert(0, layer)


def load_handler(code_uri: str | Path, handler: str = "app.handler") -> Handler:
    """Import a function's handler from its folder, under a module name unique to that folder.

    Every function names its module `app`, so each is loaded under its own name in sys.modules.
    A lock keeps a second thread from getting a module that is still executing.
    """
    return getattr(load_module(code_uri, handler), handler.rpartition(".")[2])


def load_module(code_uri: str | Path, handler: str = "app.handler") -> Any:
    """Import the module that defines a function's handler, as `load_handler` does, and return it."""
    ensure_layer_on_path()
    folder = (ROOT / code_uri).resolve()
    module_name = handler.rpartition(".")[0]
    unique_name = f"lambda_{folder.name}_{module_name.replace('.', '_')}"
    with _LOAD_LOCK:
        return _import_module(unique_name, folder, module_name, handler)


def _import_module(unique_name: str, folder: Path, module_name: str, handler: str) -> Any:
    if unique_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(unique_name, folder / f"{module_name.replace('.', '/')}.py")
        if spec is None or spec.loader is None:
            raise ImportError(f"Cannot load handler {handler!r} from {folder}; check CodeUri and Handler.")
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[unique_name]
            raise
    return sys.modules[unique_name]
