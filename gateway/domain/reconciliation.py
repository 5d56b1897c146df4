"""Pure pieces of reconciliation: what a case is, and how its dedup key is formed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.domain.states import MismatchType


@dataclass(frozen=True)
class Finding:
    """One discrepancy found by a run; becomes (or keeps open) one mismatch case."""

    type: MismatchType
    dedup_key: str
    unit_id: int | None = None
    programme_id: int | None = None
    period: str | None = None
    person_id: int | None = None
    enrollment_id: int | None = None
    instruction_id: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (str(self.type), self.dedup_key)


@dataclass(frozen=True)
class CaseDelta:
    """What a run changes: cases to open, cases still present, cases whose cause disappeared."""

    to_open: tuple[Finding, ...]
    still_open: tuple[int, ...]
    to_close: tuple[int, ...]


def plan(
    findings: list[Finding], open_cases: dict[tuple[str, str], int], types_checked: frozenset[str]
) -> CaseDelta:
    """Decide the case changes of one run; only types this run checked may be closed."""
    seen: dict[tuple[str, str], Finding] = {}
    for f in findings:
        seen.setdefault(f.key, f)
    to_open = tuple(f for k, f in seen.items() if k not in open_cases)
    still = tuple(cid for k, cid in open_cases.items() if k in seen)
    close = tuple(cid for k, cid in open_cases.items() if k not in seen and k[0] in types_checked)
    return CaseDelta(to_open, still, close)
