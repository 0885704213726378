"""`python -m bench`: measure every path against its floor in one run and write docs/benchmarks.md."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any
from pathlib import Path

from bench import cold_start, load, packages, rename, warm
from bench.report import Report, write_report

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "docs" / "benchmarks.md"
DATABASE = "bench"
RENAME_SIZES = (0, 1_000, 10_000, 100_000)


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def stdout_to(path: Path) -> Iterator[None]:
    """Send file descriptor 1 to a file: the handlers' JSON log lines go there, as they go to CloudWatch in AWS."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def machine() -> str:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    return (
        f"{platform.system()} {platform.release()} {platform.machine()}, {model}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="report to write (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=9, help="rounds of each interleaved measurement")
    parser.add_argument("--cold-repeats", type=int, default=15, help="fresh processes per cold start")
    parser.add_argument("--login-repeats", type=int, default=15, help="rounds of the login measurement")
    parser.add_argument("--load-requests", type=int, default=400, help="requests of the bounded load")
    parser.add_argument("--load-concurrency", type=int, default=8, help="concurrent clients of the bounded load")
    parser.add_argument(
        "--warm-only",
        action="store_true",
        help="time only the warm authorizer decision and warm GET, print their ratios and write no report",
    )
    return parser.parse_args()


def main() -> int:
    arguments = parse_arguments()
    started = time.monotonic()
    report = Report(
        command="make bench",
        machine=machine(),
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        repeats=arguments.repeats,
        cold_repeats=arguments.cold_repeats,
    )
    with tempfile.TemporaryDirectory(prefix="orgservice-bench-") as scratch:
        work = Path(scratch)
        log_path = work / "bench.log"
        try:
            with stdout_to(log_path):
                if arguments.warm_only:
                    run_warm_only(arguments, work, report)
                else:
                    run_all(arguments, work, report)
        except BaseException:
            progress(f"Failed; the handlers' log lines were in {log_path}:")
            sys.stderr.write(log_path.read_text(encoding="utf-8", errors="replace")[-4000:])
            raise

    report.total_seconds = time.monotonic() - started
    if arguments.warm_only:
        print_warm(report)
        return 0
    write_report(report, arguments.output)
    progress(f"Wrote {arguments.output} in {report.total_seconds:.0f} s")
    return 0


def run_all(arguments: argparse.Namespace, work: Path, report: Report) -> None:
    # Imported here, after the layer is on sys.path.
    from local_api.embedded_db import EmbeddedMongo
    from local_api.lambda_events import ensure_layer_on_path
    from local_api.local_state import apply_environment, reset_domain_caches
    from local_api.template import load_template

    architecture = packages.template_architecture()
    progress(f"Building the layer as `make build` does, for the template's {architecture}")
    lambda_layer = packages.build_layer(work / "layer-lambda")
    report.layer_bytes = packages.folder_bytes(lambda_layer)
    for folder in packages.function_folders():
        built = packages.build_function(folder, work / "functions" / folder.name, architecture=architecture)
        report.package_bytes[folder.name] = packages.folder_bytes(built)

    # The cold starts import the layer's compiled modules, so they need a layer for this machine.
    native_layer = lambda_layer
    if packages.machine_architecture() != architecture:
        progress(f"Building the layer again for this machine's {packages.machine_architecture()}")
        native_layer = packages.build_layer(work / "layer-native", architecture=packages.machine_architecture())
    runtime_sdk = packages.link_runtime_sdk(work / "lambda-runtime")

    template = load_template()
    with EmbeddedMongo(work / "database") as database:
        environment = bench_environment(template, database.uri)

        progress(f"Cold starts: {arguments.cold_repeats} fresh processes per function and for the hello app")
        folders = {"hello app": ROOT / "bench" / "baseline", "floor app": ROOT / "bench" / "floor"}
        folders.update({folder.name: folder for folder in packages.function_folders()})
        report.cold = cold_start.measure(
            folders, native_layer, runtime_sdk, environment, repeats=arguments.cold_repeats
        )

        apply_environment(environment)
        ensure_layer_on_path()
        try:
            measure_warm(arguments, report, template, database.uri)
        finally:
            reset_domain_caches()

    progress(f"Bounded load: {arguments.load_requests} requests from {arguments.load_concurrency} clients")
    process, url = load.start_runner(work / "runner-state", work / "runner.log")
    try:
        report.load = load.run(url, requests=arguments.load_requests, concurrency=arguments.load_concurrency)
    finally:
        load.stop_runner(process)


def bench_environment(template: Any, mongodb_uri: str) -> dict[str, str]:
    """Build the functions' environment from the template, pointed at the bench's own database."""
    from local_api.local_state import local_environment

    environment = local_environment(
        template,
        list(template.functions.values()),
        mongodb_uri=mongodb_uri,
        jwt_secret_key="bench-signing-key-" + "k" * 32,
    )
    environment["MONGODB_DATABASE"] = DATABASE
    # The login rounds fail more often for the unknown email than the default limit of 5 allows.
    # Each login still reads the failure counters and records the failure, so the cost is measured.
    environment["LOGIN_MAX_FAILURES_PER_EMAIL"] = "1000"
    return environment


def run_warm_only(arguments: argparse.Namespace, work: Path, report: Report) -> None:
    """Time the two hot paths against their floors, for trying a change without the full run."""
    from local_api.embedded_db import EmbeddedMongo
    from local_api.lambda_events import ensure_layer_on_path
    from local_api.local_state import apply_environment, reset_domain_caches
    from local_api.template import load_template

    template = load_template()
    with EmbeddedMongo(work / "database") as database:
        apply_environment(bench_environment(template, database.uri))
        ensure_layer_on_path()
        try:
            measure_warm(arguments, report, template, database.uri, hot_paths_only=True)
        finally:
            reset_domain_caches()


def print_warm(report: Report) -> None:
    for name, runs, floor in (
        ("authorizer warm decision", report.authorizer, "jwt.decode"),
        ("warm GET /org/get", report.get, "find_one"),
    ):
        measured = next(iter(runs.values()))
        timings = ", ".join(f"{run} {seconds * 1e6:.0f} µs" for run, seconds in runs.items())
        progress(f"{name}: {measured / runs[floor]:.2f}× {floor} ({timings})")


def measure_warm(
    arguments: argparse.Namespace, report: Report, template: object, uri: str, *, hot_paths_only: bool = False
) -> None:
    import bcrypt
    from pymongo import MongoClient

    from orgservice.core.config import get_settings
    from orgservice.core.keys import load_key_ring
    from orgservice.naming import slugify

    settings = get_settings()
    service = warm.Service(template)
    raw = MongoClient(uri)
    try:
        name, email = "Bench Warm Org", "warm@bench.example"
        service.create(name, email)
        token = service.token(email)

        progress("Warm authorizer decision against jwt.decode")
        report.authorizer = warm.authorizer_decision(
            service,
            token,
            key=load_key_ring(settings).current.secret,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            repeats=arguments.repeats,
            batch=200,
        )

        progress("Warm GET /org/get against find_one")
        report.get = warm.get_organization(
            service, raw, DATABASE, name, slugify(name), repeats=arguments.repeats, batch=50
        )
        if hot_paths_only:
            return

        progress(f"Warm login against bcrypt.checkpw at cost {settings.bcrypt_rounds}")
        password_hash = bcrypt.hashpw(warm.PASSWORD.encode(), bcrypt.gensalt(rounds=settings.bcrypt_rounds))
        report.bcrypt_rounds = settings.bcrypt_rounds
        report.login = warm.login(service, email, password_hash, repeats=arguments.login_repeats)

        for documents in RENAME_SIZES:
            repeats = 1 if documents >= 100_000 else max(3, arguments.repeats - 4)
            progress(f"Rename at {documents} documents, {repeats} rounds")
            report.renames.append(rename.measure(service, raw, DATABASE, documents, repeats=repeats))
    finally:
        raw.close()


if __name__ == "__main__":
    sys.exit(main())
