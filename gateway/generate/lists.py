"""Provincial beneficiary lists with realistic defects, each recorded in a ground truth.

One list per (province, programme, period), in the canonical template's shape. Every planted
defect touches a different person, so the gateway's detections can be checked one by one.
"""

from __future__ import annotations

import random
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from gateway.domain.names import bank_form
from gateway.generate.population import Geography, Person, make_pid

DEFECTS = (
    "nfd_name",  # name in NFD (decomposed) form
    "ascii_upper_name",  # bank-style: NGUYEN THI HUONG
    "ddmmyyyy_date",  # 03/04/1950 instead of 1950-04-03
    "legacy_id_only",  # only the 9-digit CMND is given
    "pid_birth_mismatch",  # birth year disagrees with the ID digits
    "unknown_id",  # a structurally valid ID the registry does not hold
    "deceased",  # dead in the registry, still listed
    "cross_commune_duplicate",  # listed again by another commune
    "exclusive_programme",  # also listed for the social pension (same exclusion group)
    "moved_across_merger",  # listed with the legacy commune code of a merged commune
    "ticked_elsewhere",  # already paid by another locality (registry tick)
    "account_name_mismatch",  # the bank account belongs to someone else
    "closed_account",  # the bank account is closed (AC04)
)
BINS = ("970436", "970415", "970418", "970405", "970422", "970407", "970416", "970432")
GROUP = "tcxh-hang-thang"


@dataclass
class Account:
    bin: str
    number: str
    holder_name: str
    status: str = "active"


@dataclass(frozen=True)
class Truth:
    list_key: str
    row_number: int
    defect: str
    person_idx: int
    pid: str


@dataclass(frozen=True)
class RegistryTick:
    pid: str
    exclusion_group: str
    period: str
    locality: str
    programme: str


@dataclass
class GeneratedLists:
    period: str
    lists: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    programmes: dict[str, str] = field(default_factory=dict)  # list key -> programme code
    truth: list[Truth] = field(default_factory=list)
    accounts: dict[int, Account] = field(default_factory=dict)  # person idx -> account
    registry_ticks: list[RegistryTick] = field(default_factory=list)
    unknown_pids: set[str] = field(default_factory=set)

    def expected(self) -> dict[str, int]:
        counts = dict.fromkeys(DEFECTS, 0)
        for t in self.truth:
            counts[t.defect] += 1
        return counts


def is_beneficiary(person: Person, rng: random.Random) -> bool:
    """Who a province lists: many of the oldest, a few children and adults; some dead."""
    if person.vital == "deceased":
        return rng.random() < 0.30
    if person.age >= 80:
        return rng.random() < 0.35
    return rng.random() < 0.03


def build_lists(
    beneficiaries: Iterable[Person],
    *,
    seed: int,
    period: str,
    geography: Geography,
    defect_rate: float = 0.01,
) -> GeneratedLists:
    rng = random.Random(seed + 7)
    people = list(beneficiaries)
    alive = [p for p in people if p.vital == "alive"]
    dead = [p for p in people if p.vital == "deceased"]
    out = GeneratedLists(period)
    per_defect = max(1, round(defect_rate * len(alive))) if alive else 0
    planted = _choose_defects(alive, dead, per_defect, rng)
    rows: dict[str, list[tuple[dict[str, object], str | None, Person]]] = defaultdict(list)
    for person in alive + [p for p in dead if planted.get(p.idx) == "deceased"]:
        defect = planted.get(person.idx)
        programme = _programme_of(person)
        if rng.random() < 0.6 or defect in ("account_name_mismatch", "closed_account"):
            out.accounts[person.idx] = Account(
                rng.choice(BINS), _account_number(rng), bank_form(person.full_name)
            )
        row = _row(person, programme, out.accounts.get(person.idx), rng)
        # a second listing carries these defects, not the person's first row
        on_row = None if defect in ("cross_commune_duplicate", "exclusive_programme") else defect
        rows[_key(geography, person, programme, period)].append((row, on_row, person))
        _plant(defect, person, row, out, rows, period, geography, rng)
    for key, entries in rows.items():
        out.lists[key] = [r for r, _, _ in entries]
        out.programmes[key] = key.split("/")[1]
        for number, (_, defect, person) in enumerate(entries, start=1):
            if defect is not None:
                out.truth.append(Truth(key, number, defect, person.idx, person.pid))
    return out


def _key(geography: Geography, person: Person, programme: str, period: str) -> str:
    return f"{geography.province_of[person.commune]}/{programme}/{period}"


def _choose_defects(
    alive: list[Person], dead: list[Person], k: int, rng: random.Random
) -> dict[int, str]:
    """person idx -> defect, each person at most one defect, respecting each defect's needs."""
    needs = {
        "legacy_id_only": lambda p: p.legacy_id is not None,
        "exclusive_programme": lambda p: p.age >= 80,
        "moved_across_merger": lambda p: p.legacy_commune is not None,
        "nfd_name": lambda p: unicodedata.normalize("NFD", p.full_name) != p.full_name,
        "ascii_upper_name": lambda p: bank_form(p.full_name) != p.full_name.upper(),
        "ddmmyyyy_date": lambda p: not p.year_only,
        "pid_birth_mismatch": lambda p: not p.year_only,
    }
    pool = alive[:]
    rng.shuffle(pool)
    taken: dict[int, str] = {}
    for person in dead[:k]:
        taken[person.idx] = "deceased"
    for defect in DEFECTS:
        if defect == "deceased":
            continue
        need = needs.get(defect, lambda p: True)
        count = 0
        for person in pool:
            if count == k:
                break
            if person.idx not in taken and need(person):
                taken[person.idx] = defect
                count += 1
    return taken


def _account_number(rng: random.Random) -> str:
    return "".join(str(rng.randint(0, 9)) for _ in range(rng.randint(10, 14)))


def _row(
    person: Person, programme: str, account: Account | None, rng: random.Random
) -> dict[str, object]:
    coefficient = "" if programme == "ND20-NCT80" else rng.choice(("1", "1,5", "2", "2,5"))
    return {
        "source_ref": f"HS-{person.idx:08d}",
        "personal_id": person.pid,
        "legacy_id": person.legacy_id if person.legacy_id and rng.random() < 0.5 else "",
        "full_name": person.full_name,
        "birth_date": str(person.birth.year) if person.year_only else person.birth.isoformat(),
        "gender": "Nam" if person.gender == "M" else "Nữ",
        "scheme": "2025-07",
        "commune_code": person.commune,
        "coefficient": coefficient,
        "channel": "bank" if account else "postoffice",
        "bank_bin": account.bin if account else "",
        "account_number": account.number if account else "",
    }


def _plant(
    defect: str | None,
    person: Person,
    row: dict[str, object],
    out: GeneratedLists,
    rows: dict[str, list[tuple[dict[str, object], str | None, Person]]],
    period: str,
    geography: Geography,
    rng: random.Random,
) -> None:
    if defect is None:
        return
    if defect == "nfd_name":
        row["full_name"] = unicodedata.normalize("NFD", person.full_name)
    elif defect == "ascii_upper_name":
        row["full_name"] = bank_form(person.full_name)
    elif defect == "ddmmyyyy_date":
        row["birth_date"] = person.birth.strftime("%d/%m/%Y")
    elif defect == "legacy_id_only":
        row["personal_id"], row["legacy_id"] = "", person.legacy_id
    elif defect == "pid_birth_mismatch":
        row["birth_date"] = person.birth.replace(year=person.birth.year + 1).isoformat()
    elif defect == "unknown_id":
        fake = make_pid("002", person.birth.year, person.gender, 990_000 + len(out.unknown_pids))
        out.unknown_pids.add(fake)
        row["personal_id"] = fake
        row["legacy_id"] = ""
    elif defect == "cross_commune_duplicate":
        others = [c for c in geography.neighbours.get(person.commune, ()) if c != person.commune]
        dup = dict(
            row,
            commune_code=rng.choice(others) if others else person.commune,
            source_ref=f"HS-{person.idx:08d}-B",
        )
        rows[_key(geography, person, _programme_of(person), period)].append((dup, defect, person))
        return  # the *second* listing carries the defect
    elif defect == "exclusive_programme":
        extra = dict(row, coefficient="", source_ref=f"HT-{person.idx:08d}")
        rows[_key(geography, person, "ND176-HTXH", period)].append((extra, defect, person))
        return
    elif defect == "moved_across_merger":
        row["scheme"], row["commune_code"] = "legacy63", person.legacy_commune
    elif defect == "ticked_elsewhere":
        others = [c for c in geography.neighbours.get(person.commune, ()) if c != person.commune]
        out.registry_ticks.append(
            RegistryTick(
                person.pid,
                GROUP,
                period,
                f"2025-07:{rng.choice(others) if others else '00000'}",
                _programme_of(person),
            )
        )
    elif defect == "account_name_mismatch":
        out.accounts[person.idx].holder_name = "TRAN VAN NGUOI KHAC"
    elif defect == "closed_account":
        out.accounts[person.idx].status = "closed"


def _programme_of(person: Person) -> str:
    return "ND20-NCT80" if person.age >= 80 else "ND20-TCXH"
