"""What flows between intake's two stages: chunks of accepted rows (parallel lists, cheap to
fill and zipped when written), rows held back for quarantine, and the list being imported."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import FieldProblem
from gateway.services import units


@dataclass
class Held:
    """A row kept in quarantine: where it was, what it said, every problem found."""

    number: int
    location: str
    fields: dict[str, object]
    problems: list[FieldProblem]
    unit_id: int | None


class RowSource:
    """What the writer needs to know about the table a row came from, to hold it back late."""

    def __init__(
        self,
        fields: Callable[[Any], dict[str, object]],
        locate: Callable[[int, Any], str],
    ) -> None:
        self.fields, self.locate = fields, locate


@dataclass
class Chunk:
    """Accepted rows, as parallel lists (cheap to fill, zipped when written), and held rows."""

    numbers: list[int] = field(default_factory=list)
    places: list[tuple[int, Any, RowSource]] = field(default_factory=list)  # (at, src, table)
    values: list[tuple[Any, ...]] = field(default_factory=list)
    units: list[units.Translation] = field(default_factory=list)
    amounts: list[int] = field(default_factory=list)
    warnings: dict[int, tuple[FieldProblem, ...]] = field(default_factory=dict)  # by position
    held: list[Held] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.numbers) + len(self.held)

    def lists(self) -> tuple[list[int], list[Any], list[Any], list[Any], list[int]]:
        return self.numbers, self.places, self.values, self.units, self.amounts

    def clear(self) -> None:
        for part in (self.numbers, self.places, self.values, self.units, self.amounts):
            part.clear()
        self.warnings.clear()
        self.held.clear()

    def hold_late(self, k: int, problems: list[FieldProblem]) -> Held:
        at, src, table = self.places[k]
        return Held(
            self.numbers[k],
            table.locate(at, src),
            table.fields(src),
            problems,
            self.units[k].unit.id,
        )


@dataclass
class Counts:
    accepted: int = 0
    corrected: int = 0
    duplicates: int = 0
    quarantined: int = 0


@dataclass(frozen=True)
class Target:
    """The list being imported: which programme, period and import the rows go to."""

    programme_id: int
    programme_code: str
    period: str
    import_id: int
    actor: str
    now: dt.datetime
    previous: frozenset[int] = frozenset()  # earlier versions of the same list
