"""Read the shipped admin-unit snapshot directly (no database): for the generator and tests."""

from __future__ import annotations

import csv
import functools
import gzip
from collections.abc import Iterator
from dataclasses import dataclass

from gateway.refdata.admin_units import DATA


@dataclass(frozen=True)
class SnapshotUnit:
    level: str
    code: str
    name: str
    province_code: str
    parent_code: str


def _read(name: str) -> Iterator[dict[str, str]]:
    with gzip.open(DATA / name, "rt", encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh)


@functools.cache
def units(scheme_file: str) -> tuple[SnapshotUnit, ...]:
    return tuple(
        SnapshotUnit(r["level"], r["code"], r["name"], r["province_code"], r["parent_code"])
        for r in _read(scheme_file)
    )


def communes_2025() -> tuple[SnapshotUnit, ...]:
    return tuple(u for u in units("units_2025.csv.gz") if u.level == "commune")


def communes_legacy() -> tuple[SnapshotUnit, ...]:
    return tuple(u for u in units("units_legacy63.csv.gz") if u.level == "commune")


@functools.cache
def succession() -> tuple[tuple[str, str, str, bool, bool], ...]:
    """(old level, old code, new code, is_partial, is_default)."""
    return tuple(
        (
            r["old_level"],
            r["old_code"],
            r["new_code"],
            r["is_partial"] == "1",
            r["is_default"] == "1",
        )
        for r in _read("succession_2025.csv.gz")
    )
