"""Count of injected faults and of those after which every invariant held."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FaultTally:
    injected: int = 0
    consistent: int = 0
    inconsistent: list[str] = field(default_factory=list)

    def record(self, case: str, violations: list[str]) -> None:
        self.injected += 1
        if violations:
            self.inconsistent.append(f"{case}: {'; '.join(violations)}")
        else:
            self.consistent += 1

    def summary(self) -> str:
        return f"fault injection: {self.injected} faults injected, {self.consistent} ended consistent"


TALLY = FaultTally()
