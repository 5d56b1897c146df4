"""Write a generated population and its lists to files (``ansinh generate``)."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from pathlib import Path

from gateway.generate.lists import build_lists, is_beneficiary
from gateway.generate.population import Geography, Person, population
from mappings.canonical import FIELDS

POPULATION_HEADER = (
    "idx",
    "personal_id",
    "legacy_id",
    "full_name",
    "birth_date",
    "gender",
    "vital_status",
    "death_date",
    "commune_code_2025",
    "legacy_commune_code",
    "household",
)


@dataclass
class GenerateReport:
    people: int
    beneficiaries: int = 0
    lists: dict[str, int] = field(default_factory=dict)
    defects: dict[str, int] = field(default_factory=dict)
    directory: str = ""


def write_all(
    out: Path,
    *,
    people: int,
    seed: int,
    period: str,
    provinces: tuple[str, ...] | None,
    defect_rate: float,
) -> GenerateReport:
    out.mkdir(parents=True, exist_ok=True)
    (out / "lists").mkdir(exist_ok=True)
    geography = Geography.for_provinces(provinces)
    pick = random.Random(seed + 3)
    beneficiaries: list[Person] = []
    report = GenerateReport(people, directory=str(out))
    with (out / "population.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(POPULATION_HEADER)
        for p in population(people, seed, geography):
            writer.writerow(
                (
                    p.idx,
                    p.pid,
                    p.legacy_id or "",
                    p.full_name,
                    str(p.birth.year) if p.year_only else p.birth.isoformat(),
                    p.gender,
                    p.vital,
                    p.death_date.isoformat() if p.death_date else "",
                    p.commune,
                    p.legacy_commune or "",
                    p.household,
                )
            )
            if is_beneficiary(p, pick):
                beneficiaries.append(p)
    report.beneficiaries = len(beneficiaries)
    lists = build_lists(
        beneficiaries, seed=seed, period=period, geography=geography, defect_rate=defect_rate
    )
    headers = [f.header_vi for f in FIELDS]
    for key, rows in sorted(lists.lists.items()):
        name = key.replace("/", "_") + ".csv"
        with (out / "lists" / name).open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(headers)
            writer.writerows([row.get(f.name, "") for f in FIELDS] for row in rows)
        report.lists[name] = len(rows)
    _write(
        out / "ground_truth.csv",
        ("list", "row_number", "defect", "person_idx"),
        [
            (t.list_key.replace("/", "_") + ".csv", t.row_number, t.defect, t.person_idx)
            for t in lists.truth
        ],
    )
    _write(
        out / "accounts.csv",
        ("person_idx", "bin", "account_number", "holder_name", "status"),
        [(i, a.bin, a.number, a.holder_name, a.status) for i, a in sorted(lists.accounts.items())],
    )
    _write(
        out / "registry_ticks.csv",
        ("personal_id", "exclusion_group", "period", "locality", "programme"),
        [
            (t.pid, t.exclusion_group, t.period, t.locality, t.programme)
            for t in lists.registry_ticks
        ],
    )
    report.defects = lists.expected()
    return report


def _write(path: Path, header: tuple[str, ...], rows: list[tuple[object, ...]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
