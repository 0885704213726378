"""Interleaved medians: every function runs in every round, in a rotating order."""

from __future__ import annotations

from bench.stats import interleaved


def test_interleaved_rotates_order_each_round() -> None:
    calls: list[str] = []
    runs = {name: (lambda name=name: calls.append(name)) for name in ("a", "b", "c")}

    interleaved(runs, repeats=3)

    assert calls[0:3] == ["a", "b", "c"]
    assert calls[3:6] == ["b", "c", "a"]
    assert calls[6:9] == ["c", "a", "b"]


def test_interleaved_times_each_call_of_a_batch() -> None:
    counts = {"a": 0}

    def count() -> None:
        counts["a"] += 1

    medians = interleaved({"a": count}, repeats=4, batch=25)

    assert counts["a"] == 100
    assert medians["a"] >= 0
