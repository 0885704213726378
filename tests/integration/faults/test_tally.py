"""The tally of every fault injected by the modules before this one; pytest runs modules in name order."""

from __future__ import annotations

import pytest

from tests.integration.faults.tally import TALLY


def test_fault_tally_all_consistent() -> None:
    """Every fault injected above ended in a consistent state; the summary line prints the counts."""
    if TALLY.injected == 0:
        pytest.skip("no fault case ran in this session")

    print(TALLY.summary())
    assert TALLY.inconsistent == []
    assert TALLY.consistent == TALLY.injected
