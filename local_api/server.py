"""`python -m local_api serve`: the template's API on uvicorn, like `sam local start-api` but without Docker."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from local_api.errors import LocalRunnerError
from local_api.functions import LocalFunctions
from local_api.gateway import LocalGateway
from local_api.openapi import DOCS_URL, ApiDocs
from local_api.local_state import (
    apply_environment,
    local_environment,
    open_database,
    reset_domain_caches,
    resolve_signing_key,
    restored_environment,
    state_dir_from_environment,
)
from local_api.runner_record import record_runner_url
from local_api.template import TEMPLATE_PATH, load_template

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000


def port_from_environment() -> int:
    """Return PORT from the environment, else 3000."""
    raw = os.environ.get("PORT", "").strip()
    if not raw:
        return DEFAULT_PORT
    if not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise LocalRunnerError(f"PORT={raw!r} is not a TCP port. Set it to a number from 0 to 65535.")
    return int(raw)


def host_from_environment() -> str:
    """Return HOST from the environment, else 127.0.0.1."""
    return os.environ.get("HOST", "").strip() or DEFAULT_HOST


@dataclass
class ServeOptions:
    """Settings of one local API server, where port 0 picks a free port."""

    template_path: Path = TEMPLATE_PATH
    state_dir: Path = field(default_factory=state_dir_from_environment)
    parameter_overrides: Mapping[str, str] = field(default_factory=dict)
    host: str = field(default_factory=host_from_environment)
    port: int = field(default_factory=port_from_environment)


@contextlib.contextmanager
def local_gateway(options: ServeOptions) -> Iterator[LocalGateway]:
    """Check the signing key, prepare the database and environment, and yield the gateway app.

    The signing key is checked first, so an invalid key stops the runner before the database
    starts. On exit, in this order: a running handler gets up to the template's longest function
    Timeout, plus the grace, to return. Then the domain package's MongoClient closes, the
    embedded database stops if this call started it, and os.environ is restored. So a handler
    that returns within that time never finds its database or its environment gone.
    """
    template = load_template(options.template_path, options.parameter_overrides)
    signing_key = resolve_signing_key(options.state_dir)
    with restored_environment(), open_database(options.state_dir, own_state_dir=True) as database:
        logger.info("Functions reach MongoDB through %s", database.source)
        environment = local_environment(
            template,
            list(template.functions.values()),
            mongodb_uri=database.uri,
            jwt_secret_key=signing_key,
        )
        apply_environment(environment)
        functions = LocalFunctions(template)
        try:
            yield LocalGateway(template, functions)
        finally:
            functions.close(timeout_seconds=functions.max_timeout_seconds())
            reset_domain_caches()


class LocalApiServer(uvicorn.Server):
    """A uvicorn server that logs the URL it serves and the routes once it listens.

    `on_started`, if given, is called with the URL once the server listens.
    """

    def __init__(
        self, gateway: LocalGateway, host: str, port: int, on_started: Callable[[str], None] | None = None
    ) -> None:
        docs = ApiDocs(gateway, gateway.template, route_exists=lambda path: bool(gateway.routes.for_path(path)))
        config = uvicorn.Config(
            docs,
            host=host,
            port=port,
            lifespan="off",
            # The gateway logs one line per request with its request id, and the root logger's
            # handlers print uvicorn's own messages.
            access_log=False,
            log_config=None,
        )
        super().__init__(config)
        self.gateway = gateway
        self.on_started = on_started

    @property
    def url(self) -> str:
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        if not self.started:
            return
        for route in self.gateway.routes.routes:
            protection = f", authorizer {route.authorizer.name}" if route.authorizer else ""
            logger.info(
                "Mounted %s at %s%s [%s%s]",
                route.spec.function_id,
                self.url,
                route.spec.path,
                route.spec.method,
                protection,
            )
        stages = ", ".join(sorted({api.stage for api in self.gateway.template.apis.values()}))
        logger.info(
            "Serving %s on %s (stage %s in events, no stage prefix in URLs). Press Ctrl-C to stop",
            self.gateway.template.path.name,
            self.url,
            stages,
        )
        logger.info("Swagger UI of the API at %s%s", self.url, DOCS_URL)
        if self.on_started is not None:
            self.on_started(self.url)


def serve(options: ServeOptions) -> None:
    """Run the local API until Ctrl-C or SIGTERM, then stop the embedded database if it started one.

    Ctrl-C or SIGTERM starts uvicorn's graceful shutdown, which lets the requests in flight
    finish. A handler that still runs after that, such as one past its Timeout, gets the time
    that `local_gateway` allows before the database stops.
    """
    logger.info("Starting the local API from %s", options.template_path)
    try:
        with local_gateway(options) as gateway:
            server = LocalApiServer(
                gateway,
                options.host,
                options.port,
                on_started=lambda url: record_runner_url(options.state_dir, url),
            )
            server.run()
    except SystemExit as stop:
        # uvicorn exits with STARTUP_FAILURE when it cannot listen, after logging the OS error.
        if stop.code == STARTUP_FAILURE:
            logger.error(
                "Cannot listen on %s:%s. Stop the program that uses it or set PORT to another port",
                options.host,
                options.port,
            )
        raise
    finally:
        logger.info("Stopped the local API")
