"""The welfare-source port: lists of beneficiaries as a province exports them, and status back."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class SourceList:
    key: str  # stable name of the list at its source ("79/ND20-TCXH/2026-07/26734")
    programme: str
    period: str
    mapping: str  # mapping file that reads it ("canonical" for the canonical template)
    kind: str  # csv | xlsx | rest | fake
    version: str  # content version at the source (hash, etag, export timestamp)


@dataclass(frozen=True)
class StatusReport:
    """What the province learns back about one of its rows."""

    source_ref: str
    state: str
    reason_code: str | None
    reason: str | None
    amount: int | None
    paid_at: str | None


@runtime_checkable
class WelfareSource(Protocol):
    name: str

    def lists(self) -> list[SourceList]:
        """Lists the source currently offers."""

    def rows(self, source: SourceList) -> Iterator[dict[str, object]]:
        """Raw rows of one list, in the source's own vocabulary (a mapping translates them)."""

    def push_statuses(self, list_key: str, statuses: Sequence[StatusReport]) -> None:
        """Send per-person status back to the provincial database."""


@dataclass(frozen=True)
class RawRow:
    """One record as the source holds it, with where it was found (for quarantine)."""

    number: int  # 1-based position among the list's records (headers and skipped rows excluded)
    location: str  # "line 12", "sheet 'Phường Bến Thành', row 9", "page 2, item 5"
    cells: Sequence[object] | Mapping[str, object]


@dataclass
class Table:
    """One table of a file: a CSV, or one sheet of a workbook. ``header`` is None for records
    that are dictionaries; an entry may be a tuple of names (merged header rows).

    ``cells`` yields ``(at, cells)``: where the record is in the file (CSV line, sheet row) and
    its cells; ``locate(at)`` spells that place for a person ("line 12", "sheet 'X', row 9"),
    only when it is needed (a quarantined row), so reading allocates nothing else per row."""

    sheet: str | None
    header: Sequence[object] | None
    cells: Iterator[tuple[int, Sequence[object]]]
    locate: Callable[[int], str]

    @property
    def rows(self) -> Iterator[RawRow]:
        """The records as ``RawRow`` (numbered 1, 2, … within the table)."""
        for number, (at, cells) in enumerate(self.cells, start=1):
            yield RawRow(number, self.locate(at), cells)


@runtime_checkable
class ListFile(Protocol):
    """A beneficiary list received as a file; read lazily, in constant memory."""

    name: str
    kind: str  # csv | xlsx

    def fingerprint(self) -> str:
        """SHA-256 of the file's bytes: the version of the list."""

    def tables(self) -> Iterator[Table]:
        """Its tables, in order; raises ``mappings.errors.FileRejected`` for a wrong file."""
