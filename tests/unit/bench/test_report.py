"""The report marks each target met or not met from the measured medians."""

from __future__ import annotations

from pathlib import Path

from bench.load import LoadResult
from bench.rename import RenameResult
from bench.report import Report, render, write_report

MB = 1024 * 1024


def _report(*, get_seconds: float = 0.0004, unknown_login: float = 0.25) -> Report:
    return Report(
        command="make bench",
        machine="test machine",
        date="2026-01-01 00:00 UTC",
        repeats=3,
        cold_repeats=3,
        layer_bytes=20 * MB,
        package_bytes={"authorizer": 3000, "get_organization": 400},
        cold={"hello app": 0.2, "floor app": 0.24, "authorizer": 0.06, "get_organization": 0.25},
        authorizer={"authorizer": 0.00005, "jwt.decode": 0.00004},
        get={"GET /org/get": get_seconds, "find_one": 0.0003, "hello request": 0.00008},
        login={"login": 0.25, "unknown-email login": unknown_login, "bcrypt.checkpw": 0.24},
        bcrypt_rounds=12,
        renames=[RenameResult(10_000, 3, 0.36, 0.35, 1.0)],
        load=LoadResult(10, 2, 0.5, 0, [0.01] * 10),
    )


def _row(text: str, path: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| {path}"))


def test_render_marks_met_targets() -> None:
    text = render(_report())

    assert "met" in _row(text, "cold start `functions/get_organization`")
    assert "not met" not in _row(text, "cold start `functions/get_organization`")
    assert "not met" not in _row(text, "warm GET /org/get")
    assert "not met" not in _row(text, "layer `layers/common`")
    assert "| 10 | 2 | 20 | 0 |" in text


def test_render_marks_missed_targets() -> None:
    text = render(_report(get_seconds=0.001, unknown_login=0.2))

    assert "not met" in _row(text, "warm GET /org/get")
    assert "not met" in _row(text, "warm login, unknown email")


def test_write_report_creates_folder(tmp_path: Path) -> None:
    target = tmp_path / "docs" / "benchmarks.md"

    write_report(_report(), target)

    assert target.read_text(encoding="utf-8").startswith("# Benchmarks")


def test_render_checks_ratio_as_printed() -> None:
    report = _report()
    report.cold["get_organization"] = 0.2 * 1.304

    text = render(report)

    assert "| 1.30× |" in _row(text, "cold start `functions/get_organization`")
    assert "not met" not in _row(text, "cold start `functions/get_organization`")
