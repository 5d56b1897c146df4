"""A synthetic population as the registry would hold it, streamed so millions fit in memory.

Personal IDs are consistent with birth date and gender (DOMAIN.md §1 and §8): province of birth
registration, century/gender digit, two-digit year, serial. Serials are allocated per bucket so
numbers never repeat within a run. Names are family-name first, NFC, with realistic frequencies.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from gateway.generate import names
from gateway.refdata import snapshot

# birth-registration prefixes weighted towards the big cities (001 Hà Nội, 079 TP.HCM)
PREFIXES = ("001", "079", "048", "031", "092", "038", "040", "074", "075", "089", "036", "026")
PREFIX_WEIGHTS = (20, 22, 5, 6, 5, 8, 8, 6, 6, 5, 5, 4)
DEFAULT_PROVINCES = ("79", "01", "48")


@dataclass(slots=True)
class Person:
    idx: int
    pid: str
    legacy_id: str | None
    full_name: str
    birth: dt.date
    year_only: bool
    gender: str
    vital: str
    death_date: dt.date | None
    commune: str  # 2025 scheme
    legacy_commune: str | None  # the legacy commune that became ``commune`` (whole merger)
    household: int

    @property
    def age(self) -> int:
        return 2026 - self.birth.year


@dataclass(frozen=True)
class Geography:
    communes: tuple[str, ...]
    legacy_of: dict[str, tuple[str, ...]]  # 2025 commune -> legacy communes merged whole into it
    neighbours: dict[str, tuple[str, ...]]  # communes of the same province
    province_of: dict[str, str]

    @classmethod
    def for_provinces(cls, provinces: Sequence[str] | None) -> Geography:
        wanted = set(provinces) if provinces else None
        communes = tuple(
            u.code for u in snapshot.communes_2025() if wanted is None or u.province_code in wanted
        )
        if not communes:
            raise ValueError(f"no 2025 communes in provinces {provinces}")
        keep = set(communes)
        legacy: dict[str, list[str]] = defaultdict(list)
        for level, old, new, partial, _ in snapshot.succession():
            if level == "commune" and not partial and new in keep:
                legacy[new].append(old)
        by_province: dict[str, list[str]] = defaultdict(list)
        for u in snapshot.communes_2025():
            if u.code in keep:
                by_province[u.province_code].append(u.code)
        neighbours = {c: tuple(v) for v in by_province.values() for c in v}
        province_of = {c: p for p, v in by_province.items() for c in v}
        return cls(communes, {k: tuple(v) for k, v in legacy.items()}, neighbours, province_of)


class _Serials:
    """Unique serials per (prefix, century-gender digit, year) bucket."""

    def __init__(self, rng: random.Random) -> None:
        self._next: dict[tuple[str, int, int], int] = {}
        self._rng = rng

    def take(self, prefix: str, g: int, yy: int) -> int:
        key = (prefix, g, yy)
        if key not in self._next:
            self._next[key] = self._rng.randrange(0, 400_000)
        value = self._next[key]
        self._next[key] = value + 1
        return value % 1_000_000


def make_pid(prefix: str, birth_year: int, gender: str, serial: int) -> str:
    g = 2 * ((birth_year - 1900) // 100) + (0 if gender == "M" else 1)
    return f"{prefix}{g}{birth_year % 100:02d}{serial:06d}"


def _cum(weights: Sequence[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def population(n: int, seed: int, geography: Geography) -> Iterator[Person]:
    """Yield ``n`` persons, deterministic for a seed; elderly and children over-represented
    the way social-assistance populations are."""
    rng = random.Random(seed)
    serials = _Serials(random.Random(seed + 1))
    legacy_counter = itertools.count(random.Random(seed + 2).randrange(100_000_000, 200_000_000))
    fam, fam_w = [f for f, _ in names.FAMILY], _cum([w for _, w in names.FAMILY])
    mid_m, mid_m_w = [m for m, _ in names.MIDDLE_M], _cum([w for _, w in names.MIDDLE_M])
    mid_f, mid_f_w = [m for m, _ in names.MIDDLE_F], _cum([w for _, w in names.MIDDLE_F])
    prefix_w = _cum(PREFIX_WEIGHTS)
    chunk = 10_000
    household = 0
    household_left = 0
    commune = geography.communes[0]
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        families = rng.choices(fam, cum_weights=fam_w, k=size)
        prefixes = rng.choices(PREFIXES, cum_weights=prefix_w, k=size)
        for i in range(size):
            idx = start + i
            if household_left == 0:
                household += 1
                household_left = rng.randint(1, 5)
                commune = rng.choice(geography.communes)
            household_left -= 1
            gender = "M" if rng.random() < 0.48 else "F"
            band = rng.random()
            if band < 0.55:
                year = rng.randint(1925, 1960)  # elderly
            elif band < 0.75:
                year = rng.randint(2008, 2022)  # children
            else:
                year = rng.randint(1961, 2007)
            birth = dt.date(year, rng.randint(1, 12), rng.randint(1, 28))
            if gender == "M":
                middle = rng.choices(mid_m, cum_weights=mid_m_w)[0]
                given = rng.choice(names.GIVEN_M)
            else:
                middle = rng.choices(mid_f, cum_weights=mid_f_w)[0]
                given = rng.choice(names.GIVEN_F)
            g = 2 * ((year - 1900) // 100) + (0 if gender == "M" else 1)
            pid = make_pid(prefixes[i], year, gender, serials.take(prefixes[i], g, year % 100))
            legacy = f"{next(legacy_counter):09d}" if year < 1995 and rng.random() < 0.4 else None
            deceased = rng.random() < 0.02
            olds = geography.legacy_of.get(commune)
            yield Person(
                idx=idx,
                pid=pid,
                legacy_id=legacy,
                full_name=f"{families[i]} {middle} {given}",
                birth=birth,
                year_only=year < 1945 and rng.random() < 0.1,
                gender=gender,
                vital="deceased" if deceased else "alive",
                death_date=dt.date(2026, rng.randint(1, 6), rng.randint(1, 28))
                if deceased
                else None,
                commune=commune,
                legacy_commune=rng.choice(olds) if olds else None,
                household=household,
            )
