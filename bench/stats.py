"""Medians of interleaved runs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping


def interleaved(runs: Mapping[str, Callable[[], object]], *, repeats: int, batch: int = 1) -> dict[str, float]:
    """Return the median seconds per call of each function, timing `batch` calls at a time.

    Each round times every function once, in an order that rotates from round to round, so a burst
    of load from elsewhere on the machine lands on the measured path and its baseline alike.
    """
    names = list(runs)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(repeats):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            function = runs[name]
            started = time.perf_counter()
            for _ in range(batch):
                function()
            samples[name].append((time.perf_counter() - started) / batch)
    return {name: statistics.median(values) for name, values in samples.items()}
