"""The Markdown report that `make bench` writes to docs/benchmarks.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.load import LoadResult
from bench.packages import LAMBDA_UNZIPPED_LIMIT_BYTES
from bench.rename import RenameResult

MB = 1024 * 1024
COLD_TARGET = 1.3
AUTHORIZER_COLD_TARGET = 0.5
AUTHORIZER_WARM_TARGET = 1.5
GET_TARGET = 1.5
LOGIN_TARGET = 1.15
UNKNOWN_LOGIN_TOLERANCE = 0.10
RENAME_TARGET = 1.2
RENAME_TARGET_DOCUMENTS = 10_000
LAYER_TARGET_BYTES = 60 * MB
AUTHORIZER_PACKAGE_TARGET_BYTES = 5 * MB

REFERENCE_APPS = ("hello app", "floor app")
# Functions that the floor app does not model: the authorizer imports neither FastAPI nor pymongo, and
# the scheduled repair function has no FastAPI app.
OUTSIDE_FLOOR = frozenset({"authorizer", "repair_tenants"})
NOTES_PATH = Path(__file__).resolve().parent / "notes.md"


@dataclass
class Report:
    command: str
    machine: str
    date: str
    repeats: int
    cold_repeats: int
    total_seconds: float = 0.0
    layer_bytes: int = 0
    package_bytes: dict[str, int] = field(default_factory=dict)
    cold: dict[str, float] = field(default_factory=dict)
    authorizer: dict[str, float] = field(default_factory=dict)
    get: dict[str, float] = field(default_factory=dict)
    login: dict[str, float] = field(default_factory=dict)
    bcrypt_rounds: int = 0
    renames: list[RenameResult] = field(default_factory=list)
    load: LoadResult | None = None


def _ms(seconds: float) -> str:
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1000:.1f} ms"


def _within(ratio: float, target: float) -> bool:
    # The target is checked on the ratio as the table prints it, rounded to two decimals.
    return round(ratio, 2) <= target


def _verdict(met: bool) -> str:
    return "met" if met else "**not met**, see below"


def _row(path: str, measured: str, limit_name: str, limit: str, ratio: float, target: str, met: bool) -> str:
    return f"| {path} | {measured} | {limit_name} | {limit} | {ratio:.2f}× | {target} | {_verdict(met)} |"


def main_rows(report: Report) -> list[str]:
    hello = report.cold["hello app"]
    rows = []
    for name, seconds in report.cold.items():
        if name in REFERENCE_APPS:
            continue
        target = AUTHORIZER_COLD_TARGET if name == "authorizer" else COLD_TARGET
        ratio = seconds / hello
        rows.append(
            _row(f"cold start `functions/{name}`", _ms(seconds), "hello app import", _ms(hello), ratio, f"≤ {target}×", _within(ratio, target))
        )

    decision, decode = report.authorizer["authorizer"], report.authorizer["jwt.decode"]
    rows.append(
        _row("authorizer warm decision", _ms(decision), "`jwt.decode`", _ms(decode), decision / decode,
             f"≤ {AUTHORIZER_WARM_TARGET}×", _within(decision / decode, AUTHORIZER_WARM_TARGET))
    )

    get, find_one = report.get["GET /org/get"], report.get["find_one"]
    rows.append(
        _row("warm GET /org/get, event in → response out", _ms(get), "pymongo `find_one`", _ms(find_one),
             get / find_one, f"≤ {GET_TARGET}×", _within(get / find_one, GET_TARGET))
    )

    known, unknown, check = report.login["login"], report.login["unknown-email login"], report.login["bcrypt.checkpw"]
    rows.append(
        _row("warm login", _ms(known), f"`bcrypt.checkpw`, cost {report.bcrypt_rounds}", _ms(check), known / check,
             f"≤ {LOGIN_TARGET}×", _within(known / check, LOGIN_TARGET))
    )
    rows.append(
        _row("warm login, unknown email", _ms(unknown), "warm login, known email", _ms(known), unknown / known,
             f"{1 - UNKNOWN_LOGIN_TOLERANCE:.2f}× to {1 + UNKNOWN_LOGIN_TOLERANCE:.2f}×",
             _within(abs(unknown / known - 1), UNKNOWN_LOGIN_TOLERANCE))
    )

    for result in report.renames:
        if result.documents == RENAME_TARGET_DOCUMENTS:
            rows.append(
                _row(f"rename at {result.documents:,} documents", _ms(result.service_seconds),
                     "`renameCollection`", _ms(result.raw_seconds), result.ratio, f"≤ {RENAME_TARGET}×",
                     _within(result.ratio, RENAME_TARGET))
            )

    limit = f"{LAMBDA_UNZIPPED_LIMIT_BYTES / MB:.0f} MB"
    rows.append(
        _row("layer `layers/common`, unzipped", f"{report.layer_bytes / MB:.1f} MB", "Lambda unzipped limit", limit,
             report.layer_bytes / LAMBDA_UNZIPPED_LIMIT_BYTES, f"≤ {LAYER_TARGET_BYTES / MB:.0f} MB",
             report.layer_bytes <= LAYER_TARGET_BYTES)
    )
    for name, size in report.package_bytes.items():
        total = size + report.layer_bytes
        if name == "authorizer":
            target, met = f"≤ {AUTHORIZER_PACKAGE_TARGET_BYTES / MB:.0f} MB", size <= AUTHORIZER_PACKAGE_TARGET_BYTES
        else:
            target, met = f"with the layer ≤ {limit}", total <= LAMBDA_UNZIPPED_LIMIT_BYTES
        rows.append(
            _row(f"package `functions/{name}` (with the layer: {total / MB:.1f} MB)", f"{size / 1024:.1f} KB",
                 "Lambda unzipped limit", limit, total / LAMBDA_UNZIPPED_LIMIT_BYTES, target, met)
        )
    return rows


def floor_lines(report: Report) -> list[str]:
    """Describe the floors measured in the same run, which the notes below refer to."""
    hello, floor = report.cold["hello app"], report.cold["floor app"]
    functions = {name: seconds for name, seconds in report.cold.items() if name not in REFERENCE_APPS}
    database_functions = [seconds / floor for name, seconds in functions.items() if name not in OUTSIDE_FLOOR]
    get, find_one, hello_request = report.get["GET /org/get"], report.get["find_one"], report.get["hello request"]
    return [
        f"- Cold start floor: the hello app plus `import pymongo` and Powertools `Logger`, `Metrics` and `Tracer` "
        f"(`bench/floor/app.py`) "
        f"imports in {_ms(floor)}, {floor / hello:.2f}× the hello app. The API functions that reach MongoDB import in "
        f"{min(database_functions):.2f}× to {max(database_functions):.2f}× of that floor (the authorizer and "
        f"repair_tenants, which build no FastAPI app, are left out).",
        f"- Warm request floor: the hello app's request through Mangum and FastAPI takes {_ms(hello_request)}, so "
        f"`find_one` plus that is {_ms(find_one + hello_request)}, {(find_one + hello_request) / find_one:.2f}× "
        f"`find_one` alone. GET /org/get takes {get / (find_one + hello_request):.2f}× that floor.",
    ]


def rename_rows(report: Report) -> list[str]:
    rows = []
    for result in report.renames:
        rows.append(
            f"| {result.documents:,} | {result.repeats} | {_ms(result.service_seconds)} | {_ms(result.raw_seconds)} "
            f"| {result.ratio:.2f}× | {result.service_seconds - result.raw_seconds:+.3f} s | {result.fill_seconds:.1f} s |"
        )
    return rows


def render(report: Report) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Command: `{report.command}`. Machine: {report.machine}. Date: {report.date}. "
        f"The whole run took {report.total_seconds:.0f} s.",
        "",
        f"Every number is the median of {report.repeats} rounds ({report.cold_repeats} fresh processes for a cold "
        "start) unless a table says otherwise. Each ratio "
        "divides two medians taken in the same run, with the measured runs and the baseline runs "
        "interleaved round by round, so that load from other processes hits both alike. A target is checked "
        "on the ratio as printed, rounded to two decimals. The ratio of a size is the share of Lambda's "
        "250 MB limit on a function and its layers, unzipped.",
        "",
        "| path | median | compared with | its median | ratio | target | result |",
        "|---|---|---|---|---|---|---|",
        *main_rows(report),
        "",
        "Floors measured in the same run:",
        "",
        *floor_lines(report),
        "",
        "## Rename by tenant size",
        "",
        "PUT /org/update through the handler, against the server's own `renameCollection` on a collection "
        "of the same size on the same server. `rounds` counts the renames of each kind; `fill` is the time "
        "that inserting the documents of both collections took.",
        "",
        "| documents | rounds | through the service | `renameCollection` | ratio | difference | fill |",
        "|---|---|---|---|---|---|---|",
        *rename_rows(report),
        "",
    ]
    if report.load is not None:
        load = report.load
        lines += [
            "## Bounded load on the local runner",
            "",
            f"{load.requests} GET /org/get requests from {load.concurrency} concurrent clients to `python -m "
            "local_api serve` on 127.0.0.1, started on a free port with its own state folder and database.",
            "",
            "| requests | concurrency | requests per second | errors | p50 | p95 |",
            "|---|---|---|---|---|---|",
            f"| {load.requests} | {load.concurrency} | {load.requests_per_second:.0f} | {load.errors} "
            f"| {load.latency_ms(0.5):.1f} ms | {load.latency_ms(0.95):.1f} ms |",
            "",
        ]
    lines.append(NOTES_PATH.read_text(encoding="utf-8").rstrip() + "\n")
    return "\n".join(lines)


def write_report(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report), encoding="utf-8")
