"""Tally of the injected faults, printed at the end of the test run."""

from __future__ import annotations

import pytest

from tests.integration.faults.tally import TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY.injected:
        terminalreporter.write_line(TALLY.summary())
