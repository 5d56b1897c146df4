"""Writing accepted intake rows a chunk at a time with set-based SQL: persons found by blind index
(one lookup per chunk) or created, payee accounts, proposed enrollments with their first
transition and intake flags. A corrected version of a list takes its earlier rows over; a second
listing of a person is held in quarantine and flags the first. Memory is bounded by the chunk."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from gateway.db.tables import (
    enrollment,
    enrollment_transition,
    flag,
    payee_account,
    person,
    person_identifier,
    quarantine_row,
)
from gateway.domain.names import fold
from gateway.domain.states import EnrollmentState, FlagKind
from gateway.errors import FieldProblem
from gateway.security.vault import PiiVault, Purpose
from gateway.services import quarantine, units
from gateway.services.intake_bulk import Bulk

# positions in a canonical values tuple (mappings.compiled.FIELDS order)
SOURCE_REF, PID, LEGACY, NAME, BIRTH, GENDER = 0, 1, 2, 3, 4, 5
COEFFICIENT, CHANNEL, BIN, ACCOUNT = 8, 9, 10, 11
OPEN_STATES = (EnrollmentState.PROPOSED, EnrollmentState.VERIFIED)
HOLD = -1  # an account that belongs to someone else: the row is held back


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


class ChunkWriter:
    def __init__(self, conn: Connection, vault: PiiVault, target: Target) -> None:
        self.conn, self.vault, self.target = conn, vault, target
        self.bulk = Bulk(conn)
        self.counts = Counts()
        self.now = self.bulk.bind(enrollment.c.created_at, target.now)
        self.true = self.bulk.bind(person_identifier.c.current, True)
        self.as_json = self.bulk.binder(flag.c.detail) or (lambda v: v)
        self._names: dict[str, str] = {}
        self.no_pid_units: set[int] = set()  # communes of records listed without a personal ID

    def write(self, chunk: Chunk, *, keep_held: bool = True) -> None:
        """Write the chunk's accepted rows; rows held back join ``chunk.held``, which are then
        kept in quarantine (unless the caller keeps them itself: a replayed row)."""
        if chunk.numbers:
            people = self._persons(chunk)
            accounts = self._accounts(chunk, people)
            pending = list(range(len(chunk.numbers)))
            while pending:  # again only for rows a concurrent import enrolled meanwhile
                pending = self._enroll(chunk, people, accounts, pending)
        if keep_held:
            self._quarantine(chunk.held)

    # -- persons ----------------------------------------------------------------------------

    def _persons(self, chunk: Chunk) -> list[int]:
        index, bulk = self.vault.index, self.bulk
        pids = [index(v[PID], Purpose.PID) if v[PID] else None for v in chunk.values]
        found: dict[bytes, int] = dict(
            bulk.lookup(person, ("pid_index", "id"), "pid_index", _some(pids))
        )
        missing = [p for p in _some(pids) if p not in found]
        if missing:  # a re-issued number: known through the identifier history
            found.update(
                bulk.lookup(person_identifier, _IDENTIFIER, "value_index", missing, kind="pid")
            )
        legacy = [
            index(v[LEGACY], Purpose.LEGACY_ID)
            if v[LEGACY] and (p is None or p not in found)
            else None
            for v, p in zip(chunk.values, pids, strict=True)
        ]
        if any(legacy):
            found.update(
                bulk.lookup(
                    person_identifier, _IDENTIFIER, "value_index", _some(legacy), kind="cmnd9"
                )
            )
        keys: list[bytes] = [_identity(p, lg, found) for p, lg in zip(pids, legacy, strict=True)]
        new: dict[bytes, int] = {}  # a new person's key -> the first row listing them
        for k, key in enumerate(keys):
            if key not in found:
                new.setdefault(key, k)
        if new:
            found.update(self._create_persons(chunk, new, pids, legacy))
        return [found[key] for key in keys]

    def _create_persons(
        self,
        chunk: Chunk,
        new: dict[bytes, int],
        pids: list[bytes | None],
        legacy: list[bytes | None],
    ) -> dict[bytes, int]:
        """One person per new key (the first row listing them), then their identifiers."""
        made = dict(zip(new, self.bulk.ids(person, len(new)), strict=True))
        rows, numbers = [], []  # numbers: (key, kind, index, ciphertext)
        encrypt = self.vault.encrypt
        for key, k in new.items():
            values = chunk.values[k]
            birth = values[BIRTH]
            pid_enc = encrypt(values[PID], Purpose.PID) if pids[k] else None
            rows.append(
                (
                    made[key],
                    pids[k],
                    pid_enc,
                    values[NAME],
                    self._name_key(values[NAME]),
                    birth.year,
                    birth.month,
                    birth.day,
                    values[GENDER],
                    "unknown",
                    chunk.units[k].unit.id,
                    self.now,
                )
            )
            if pids[k]:
                numbers.append((key, "pid", pids[k], pid_enc))
            if values[LEGACY]:
                lg = legacy[k] or self.vault.index(values[LEGACY], Purpose.LEGACY_ID)
                numbers.append((key, "cmnd9", lg, encrypt(values[LEGACY], Purpose.LEGACY_ID)))
        if self.bulk.insert(person, PERSON_COLUMNS, rows, ignore=True) < len(rows):
            made.update(self._taken_meanwhile(made))
        source = f"import:{self.target.import_id}"
        identifiers = [
            (made[key], kind, index, enc, self.true, source, self.now)
            for key, kind, index, enc in numbers
        ]
        self.bulk.insert(person_identifier, IDENTIFIER_COLUMNS, identifiers, ignore=True)
        return made

    def _taken_meanwhile(self, made: dict[bytes, int]) -> dict[bytes, int]:
        """PostgreSQL: a concurrent import created some of these persons first; use theirs."""
        return dict(self.bulk.lookup(person, ("pid_index", "id"), "pid_index", made))

    def _name_key(self, name: str) -> str:
        key = self._names.get(name)
        if key is None:
            if len(self._names) > 50_000:
                self._names.clear()
            key = self._names[name] = fold(name)
        return key

    # -- payee accounts ---------------------------------------------------------------------

    def _accounts(self, chunk: Chunk, people: list[int]) -> list[int | None]:
        index = self.vault.index
        keys = [
            (v[BIN], index(v[ACCOUNT], Purpose.ACCOUNT)) if v[CHANNEL] == "bank" else None
            for v in chunk.values
        ]
        if not any(keys):
            return [None] * len(keys)
        known = self._known_accounts([key for key in keys if key is not None])
        new: dict[tuple[str, bytes], int] = {}  # key -> first row
        for k, key in enumerate(keys):
            if key is not None and key not in known:
                known[key] = (None, people[k])
                new[key] = k
        if new:
            self._create_accounts(chunk, new, known)
        out: list[int | None] = []
        for key, owner in zip(keys, people, strict=True):
            if key is None:
                out.append(None)
                continue
            account_id, holder = known[key]
            out.append(account_id if holder == owner else HOLD)
        return out

    def _create_accounts(
        self,
        chunk: Chunk,
        new: dict[tuple[str, bytes], int],
        known: dict[tuple[str, bytes], tuple[int | None, int]],
    ) -> None:
        ids = self.bulk.ids(payee_account, len(new))
        rows = []
        for (key, k), account_id in zip(new.items(), ids, strict=True):
            owner = known[key][1]
            known[key] = (account_id, owner)
            enc = self.vault.encrypt(chunk.values[k][ACCOUNT], Purpose.ACCOUNT)
            rows.append((account_id, owner, key[0], key[1], enc, "unverified", self.now))
        if self.bulk.insert(payee_account, ACCOUNT_COLUMNS, rows, ignore=True) < len(rows):
            known.update(self._known_accounts(list(new)))  # a concurrent import was first

    def _known_accounts(
        self, keys: list[tuple[str, bytes]]
    ) -> dict[tuple[str, bytes], tuple[int | None, int]]:
        """(bin, number index) → (account, holder), bank by bank (the unique index's order)."""
        by_bin: dict[str, list[bytes]] = {}
        for bin_code, number in keys:
            by_bin.setdefault(bin_code, []).append(number)
        known: dict[tuple[str, bytes], tuple[int | None, int]] = {}
        for bin_code, numbers in by_bin.items():
            for r in self.bulk.lookup(
                payee_account, _ACCOUNT, "number_index", numbers, bin=bin_code
            ):
                known[(bin_code, r[0])] = (int(r[1]), int(r[2]))
        return known

    # -- enrollments ------------------------------------------------------------------------

    def _enroll(
        self, chunk: Chunk, people: list[int], accounts: list[int | None], rows: list[int]
    ) -> list[int]:
        """Enroll, take over or hold each row; returns the rows to try again (PostgreSQL only:
        a concurrent import enrolled the same person between our lookup and our insert)."""
        t = self.target
        existing: dict[int, list[Any]] = {
            int(r[0]): [int(r[1]), r[2], r[3], r[4]]
            for r in self.bulk.lookup(
                enrollment,
                ("person_id", "id", "state", "import_id", "source_row"),
                "person_id",
                [people[k] for k in rows],
                programme_id=t.programme_id,
                period=t.period,
            )
        }
        fresh = len({people[k] for k in rows if accounts[k] != HOLD} - existing.keys())
        ids = iter(self.bulk.ids(enrollment, fresh))
        plan = _Plan()
        for k in rows:
            self._one(chunk, k, people[k], accounts[k], existing, ids, plan)
        inserted = self.bulk.insert(enrollment, ENROLLMENT_COLUMNS, plan.inserts, ignore=True)
        retry: list[int] = []
        if inserted < len(plan.inserts):
            retry = plan.drop_missing(self.bulk)
        self.bulk.update(enrollment, TAKEOVER_COLUMNS, plan.takeovers)
        self.bulk.insert(enrollment_transition, TRANSITION_COLUMNS, plan.transitions, ignore=False)
        self.bulk.insert(flag, FLAG_COLUMNS, plan.flags, ignore=True)
        self.counts.accepted += plan.accepted
        self.counts.corrected += len(plan.takeovers)
        self.counts.duplicates += plan.duplicates
        chunk.held.extend(plan.held)
        return retry

    def _one(
        self,
        chunk: Chunk,
        k: int,
        person_id: int,
        account_id: int | None,
        existing: dict[int, list[Any]],
        ids: Iterator[int],
        plan: _Plan,
    ) -> None:
        t, values, number = self.target, chunk.values[k], chunk.numbers[k]
        if account_id == HOLD:
            plan.held.append(chunk.hold_late(k, [_OTHER_ACCOUNT]))
            return
        unit_id = chunk.units[k].unit.id
        if values[PID] is None:
            self.no_pid_units.add(unit_id)
        found = existing.get(person_id)
        if found is None:
            new_id = next(ids)
            existing[person_id] = [new_id, EnrollmentState.PROPOSED, t.import_id, number]
            plan.add(k, new_id, self._insert_row(chunk, k, new_id, person_id, account_id))
            plan.transitions.append(
                (new_id, None, EnrollmentState.PROPOSED, t.actor, _listed(t, number), self.now)
            )
            for kind, key, detail in _row_flags(chunk, k):
                plan.flags.append((new_id, kind, key, self.as_json(detail), "open", self.now))
            return
        enrollment_id, state, import_id, _ = found
        if import_id in t.previous and state in OPEN_STATES:  # a corrected version of the list
            found[1:] = [EnrollmentState.PROPOSED, t.import_id, number]
            plan.takeovers.append(
                (
                    t.import_id,
                    number,
                    values[SOURCE_REF],
                    unit_id,
                    values[COEFFICIENT],
                    chunk.amounts[k],
                    values[CHANNEL],
                    account_id,
                    EnrollmentState.PROPOSED,
                    self.now,
                    enrollment_id,
                )
            )
            reason = f"corrected list: import {t.import_id} row {number}"
            plan.transitions.append(
                (enrollment_id, state, EnrollmentState.PROPOSED, t.actor, reason, self.now)
            )
            plan.accepted += 1
            return
        self._duplicate(chunk, k, found, plan)

    def _insert_row(
        self, chunk: Chunk, k: int, new_id: int, person_id: int, account_id: int | None
    ) -> tuple[Any, ...]:
        t, values = self.target, chunk.values[k]
        return (
            new_id,
            t.programme_id,
            t.period,
            person_id,
            chunk.units[k].unit.id,
            values[COEFFICIENT],
            chunk.amounts[k],
            EnrollmentState.PROPOSED,
            values[CHANNEL],
            account_id,
            t.import_id,
            chunk.numbers[k],
            values[SOURCE_REF],
            self.now,
            self.now,
        )

    def _duplicate(self, chunk: Chunk, k: int, first: list[Any], plan: _Plan) -> None:
        """Listed again (another commune, or twice): keep the row, flag the first listing."""
        t, number = self.target, chunk.numbers[k]
        detail = {
            "other_unit": chunk.units[k].unit.qualified,
            "import_id": t.import_id,
            "row": number,
        }
        plan.flags.append(
            (
                first[0],
                FlagKind.DUPLICATE_IN_INTAKE,
                f"{t.import_id}:{number}",
                self.as_json(detail),
                "open",
                self.now,
            )
        )
        problem = FieldProblem(
            "personal_id",
            "enrollment.duplicate",
            f"this person is already listed for {t.programme_code} {t.period} "
            f"(import {first[2]}, row {first[3]})",
            f"người này đã có trong danh sách {t.programme_code} kỳ {t.period} "
            f"(lần nhập {first[2]}, dòng {first[3]})",
        )
        plan.held.append(chunk.hold_late(k, [problem]))
        plan.duplicates += 1

    # -- quarantine -------------------------------------------------------------------------

    def _quarantine(self, held: list[Held]) -> None:
        if not held:
            return
        as_json = self.bulk.binder(quarantine_row.c.problems) or (lambda v: v)
        rows = []
        for h in held:
            clean = {k: v for k, v in h.fields.items() if not k.startswith("@")}
            raw = json.dumps(clean, ensure_ascii=False, default=str)
            rows.append(
                (
                    self.target.import_id,
                    h.number,
                    self.vault.encrypt(raw, quarantine.PURPOSE),
                    as_json(quarantine.problems_json(h.problems, clean)),
                    "open",
                    (h.location or f"row {h.number}")[:120],
                    str(clean.get("source_ref") or "")[:80] or None,
                    h.unit_id,
                    self.now,
                )
            )
        self.counts.quarantined += self.bulk.insert(
            quarantine_row, QUARANTINE_COLUMNS, rows, ignore=True
        )


@dataclass
class _Plan:
    """What one pass over a chunk will write."""

    inserts: list[tuple[Any, ...]] = field(default_factory=list)
    rows_of: dict[int, int] = field(default_factory=dict)  # new enrollment id -> row position
    takeovers: list[tuple[Any, ...]] = field(default_factory=list)
    transitions: list[tuple[Any, ...]] = field(default_factory=list)
    flags: list[tuple[Any, ...]] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)
    accepted: int = 0
    duplicates: int = 0

    def add(self, k: int, new_id: int, row: tuple[Any, ...]) -> None:
        self.inserts.append(row)
        self.rows_of[new_id] = k
        self.accepted += 1

    def drop_missing(self, bulk: Bulk) -> list[int]:
        """Forget the new enrollments that were not inserted; return their rows."""
        there = {int(r[0]) for r in bulk.lookup(enrollment, ("id",), "id", self.rows_of)}
        lost = {i for i in self.rows_of if i not in there}
        self.transitions = [r for r in self.transitions if r[0] not in lost]
        self.flags = [r for r in self.flags if r[0] not in lost]
        self.accepted -= len(lost)
        return sorted(self.rows_of[i] for i in lost)


def _row_flags(chunk: Chunk, k: int) -> list[tuple[str, str, dict[str, object]]]:
    found: list[tuple[str, str, dict[str, object]]] = []
    warnings = chunk.warnings.get(k)
    if warnings:
        inconsistent = [w for w in warnings if w.rule.endswith("_mismatch")]
        if inconsistent:
            found.append(
                (FlagKind.PID_INCONSISTENT, "", {"problems": [w.as_dict() for w in inconsistent]})
            )
    unit = chunk.units[k]
    if unit.split_candidates:
        found.append(
            (
                FlagKind.SPLIT_COMMUNE,
                unit.source.qualified,
                {
                    "legacy_unit": unit.source.qualified,
                    "candidates": [c.qualified for c in unit.split_candidates],
                },
            )
        )
    return found


def _identity(pid: bytes | None, legacy: bytes | None, found: dict[bytes, int]) -> bytes:
    """Who a row is: a known personal ID, else a known CMND, else the ID (a new person)."""
    if pid is not None and pid in found:
        return pid
    if legacy is not None and (legacy in found or pid is None):
        return legacy
    assert pid is not None  # validation: a row has a personal ID or a CMND number
    return pid


def _listed(t: Target, number: int) -> str:
    return f"listed in import {t.import_id} row {number}"


def _some(values: list[Any]) -> list[Any]:
    return [v for v in values if v is not None]


_OTHER_ACCOUNT = FieldProblem(
    "account_number",
    "account.other_person",
    "this account is registered to another beneficiary",
    "số tài khoản này đã đăng ký cho người hưởng khác",
)
_IDENTIFIER = ("value_index", "person_id")
_ACCOUNT = ("number_index", "id", "person_id")
PERSON_COLUMNS = (
    "id",
    "pid_index",
    "pid_enc",
    "full_name",
    "name_key",
    "birth_year",
    "birth_month",
    "birth_day",
    "gender",
    "vital_status",
    "residence_unit_id",
    "created_at",
)
IDENTIFIER_COLUMNS = (
    "person_id",
    "kind",
    "value_index",
    "value_enc",
    "current",
    "source",
    "created_at",
)
ACCOUNT_COLUMNS = ("id", "person_id", "bin", "number_index", "number_enc", "status", "created_at")
ENROLLMENT_COLUMNS = (
    "id",
    "programme_id",
    "period",
    "person_id",
    "unit_id",
    "coefficient_milli",
    "amount",
    "state",
    "channel",
    "payee_account_id",
    "import_id",
    "source_row",
    "source_ref",
    "created_at",
    "updated_at",
)
TAKEOVER_COLUMNS = (
    "import_id",
    "source_row",
    "source_ref",
    "unit_id",
    "coefficient_milli",
    "amount",
    "channel",
    "payee_account_id",
    "state",
    "updated_at",
)
TRANSITION_COLUMNS = ("enrollment_id", "from_state", "to_state", "actor", "reason", "at")
FLAG_COLUMNS = ("enrollment_id", "kind", "detail_key", "detail", "status", "created_at")
QUARANTINE_COLUMNS = (
    "import_id",
    "row_number",
    "raw_enc",
    "problems",
    "status",
    "location",
    "source_ref",
    "unit_id",
    "created_at",
)
