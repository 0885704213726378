"""Command line of the local runner: `python -m local_api serve`, `python -m local_api invoke FUNCTION EVENT`
and `python -m local_api openapi`."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

from local_api.errors import LocalRunnerError
from local_api.invoke import invoke_function
from local_api.local_state import STATE_DIR_VARIABLE, state_dir_from_environment
from local_api.openapi import DOCUMENT_PATH, write_document
from local_api.server import DEFAULT_HOST, ServeOptions, host_from_environment, port_from_environment, serve
from local_api.template import TEMPLATE_PATH, load_template

logger = logging.getLogger("local_api")

EXIT_FUNCTION_FAILED = 1
EXIT_USAGE = 2


def _parameter_override(text: str) -> tuple[str, str]:
    name, separator, value = text.partition("=")
    if not separator or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name, value


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--template", type=Path, default=TEMPLATE_PATH, help="SAM template to read (default: %(default)s)"
    )
    common.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="folder of the local database, its URI and the JWT signing key "
        f"(default: ${STATE_DIR_VARIABLE} or .local/)",
    )
    common.add_argument(
        "--parameter-overrides",
        nargs="+",
        type=_parameter_override,
        default=[],
        metavar="NAME=VALUE",
        help="template parameter values, for example Stage=test CorsAllowOrigin=http://localhost:5173",
    )
    common.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="level of the runner's own log lines (default: %(default)s)",
    )

    parser = argparse.ArgumentParser(prog="python -m local_api", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser("serve", parents=[common], help="serve the template's API over HTTP")
    serve_parser.add_argument("--host", default=None, help=f"address to listen on (default: $HOST or {DEFAULT_HOST})")
    serve_parser.add_argument("--port", type=int, default=None, help="TCP port to listen on (default: $PORT or 3000)")

    invoke_parser = commands.add_parser("invoke", parents=[common], help="run one function once with an event file")
    invoke_parser.add_argument(
        "function", help="logical id of the function in the template, e.g. GetOrganizationFunction"
    )
    invoke_parser.add_argument("event", type=Path, help="JSON event file, e.g. events/get_organization.json")
    openapi_parser = commands.add_parser(
        "openapi", parents=[common], help="write the OpenAPI document of the whole API"
    )
    openapi_parser.add_argument(
        "--output", type=Path, default=DOCUMENT_PATH, help="file to write (default: %(default)s)"
    )
    return parser


def _run_serve(arguments: argparse.Namespace) -> int:
    # uvicorn re-raises SIGTERM after its graceful shutdown; exiting through SystemExit instead
    # of the default action lets the embedded database stop too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    options = ServeOptions(
        template_path=arguments.template,
        state_dir=arguments.state_dir or state_dir_from_environment(),
        parameter_overrides=dict(arguments.parameter_overrides),
        host=arguments.host or host_from_environment(),
        port=arguments.port if arguments.port is not None else port_from_environment(),
    )
    try:
        serve(options)
    except KeyboardInterrupt:
        pass
    return 0


def _run_invoke(arguments: argparse.Namespace) -> int:
    # Handlers log to stdout, as Lambda expects; point stdout at stderr while they run so that
    # stdout carries only the result.
    result_stream = sys.stdout
    sys.stdout = sys.stderr
    try:
        result = invoke_function(
            arguments.function,
            arguments.event,
            template_path=arguments.template,
            state_dir=arguments.state_dir,
            parameter_overrides=dict(arguments.parameter_overrides),
        )
    finally:
        sys.stdout = result_stream
    print(json.dumps(result.payload), file=result_stream, flush=True)
    return EXIT_FUNCTION_FAILED if result.failed else 0


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    logging.basicConfig(
        level=arguments.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if arguments.command == "serve":
            return _run_serve(arguments)
        if arguments.command == "openapi":
            write_document(load_template(arguments.template, dict(arguments.parameter_overrides)), arguments.output)
            logger.info("Wrote %s", arguments.output)
            return 0
        return _run_invoke(arguments)
    except LocalRunnerError as error:
        logger.error("%s", error)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
