"""Measure what one login's password check costs at several bcrypt cost factors.

Times a real check (known email, wrong password) and the dummy check that an unknown email runs,
so the README's per-login cost and the claim that both failures take the same time rest on numbers.

    .venv/bin/python bench/bcrypt_cost.py [ROUNDS ...]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "common"))

from orgservice.core.security import hash_password, verify_against_dummy, verify_password  # noqa: E402

REPEATS = 7


def median_ms(call) -> float:
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main(rounds_list: list[int]) -> None:
    print(f"{'rounds':>6} {'wrong password ms':>18} {'unknown email ms':>17}")
    for rounds in rounds_list:
        stored = hash_password("correct-horse-42", rounds=rounds)
        wrong = median_ms(lambda: verify_password("wrong-password", stored))
        unknown = median_ms(lambda: verify_against_dummy("wrong-password", rounds=rounds))
        print(f"{rounds:>6} {wrong:>18.1f} {unknown:>17.1f}")


if __name__ == "__main__":
    main([int(value) for value in sys.argv[1:]] or [10, 12, 13])
