"""`python -m local_api serve`: the template's API on uvicorn, like `sam local start-api` but without Docker."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from local_api.errors import LocalRunnerError
from local_api.functions import LocalFunctions
from local_api.gateway import LocalGateway
from local_api.local_state import (
    local_environment,
    local_process_environment,
    open_database,
    resolve_signing_key,
    state_dir_from_environment,
)
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
    """Prepare the database, signing key and environment, and yield the gateway app.

    The embedded database, if this call started one, stops on exit.
    """
    template = load_template(options.template_path, options.parameter_overrides)
    with open_database(options.state_dir, publish_uri=True) as database:
        logger.info("Functions reach MongoDB through %s", database.source)
        signing_key = resolve_signing_key(options.state_dir)
        environment = local_environment(
            template,
            list(template.functions.values()),
            mongodb_uri=database.uri,
            jwt_secret_key=signing_key,
        )
        with local_process_environment(environment):
            functions = LocalFunctions(template)
            try:
                yield LocalGateway(template, functions)
            finally:
                functions.close()


class LocalApiServer(uvicorn.Server):
    """A uvicorn server that logs the URL it serves and the routes once it listens."""

    def __init__(self, gateway: LocalGateway, host: str, port: int) -> None:
        config = uvicorn.Config(
            gateway,
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


def serve(options: ServeOptions) -> None:
    """Run the local API until Ctrl-C or SIGTERM, then stop the embedded database if it started one."""
    logger.info("Starting the local API from %s", options.template_path)
    try:
        with local_gateway(options) as gateway:
            LocalApiServer(gateway, options.host, options.port).run()
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
