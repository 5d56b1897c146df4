"""Writing accepted intake rows a chunk at a time with set-based SQL: persons found by blind index
(one lookup per chunk) or created, payee accounts, proposed enrollments with their first
transition and intake flags. A corrected version of a list takes its earlier rows over; a second
listing of a person is held in quarantine and flags the first. Memory is bounded by the chunk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from gateway.db.tables import (
    enrollment,
    enrollment_transition,
    flag,
    quarantine_row,
)
from gateway.domain.states import EnrollmentState, FlagKind
from gateway.errors import FieldProblem
from gateway.security.vault import PiiVault
from gateway.services import quarantine
from gateway.services.intake_bulk import Bulk
from gateway.services.intake_chunk import Chunk, Counts, Held, Target
from gateway.services.intake_people import HOLD, PeopleWriter

# positions in a canonical values tuple (mappings.compiled.FIELDS order)
SOURCE_REF, PID, LEGACY, NAME, BIRTH, GENDER = 0, 1, 2, 3, 4, 5
COEFFICIENT, CHANNEL, BIN, ACCOUNT = 8, 9, 10, 11
OPEN_STATES = (EnrollmentState.PROPOSED, EnrollmentState.VERIFIED)


class ChunkWriter:
    def __init__(self, conn: Connection, vault: PiiVault, target: Target) -> None:
        self.conn, self.vault, self.target = conn, vault, target
        self.bulk = Bulk(conn)
        self.counts = Counts()
        self.now = self.bulk.bind(enrollment.c.created_at, target.now)
        self.people = PeopleWriter(self.bulk, vault, target.import_id, self.now)
        self.as_json = self.bulk.binder(flag.c.detail) or (lambda v: v)
        self.no_pid_units: set[int] = set()  # communes of records listed without a personal ID

    def write(self, chunk: Chunk, *, keep_held: bool = True) -> None:
        """Write the chunk's accepted rows; rows held back join ``chunk.held``, which are then
        kept in quarantine (unless the caller keeps them itself: a replayed row)."""
        if chunk.numbers:
            people = self.people.persons(chunk.values, chunk.units)
            accounts = self.people.accounts(chunk.values, people)
            pending = list(range(len(chunk.numbers)))
            while pending:  # again only for rows a concurrent import enrolled meanwhile
                pending = self._enroll(chunk, people, accounts, pending)
        if keep_held:
            self._quarantine(chunk.held)

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


def _listed(t: Target, number: int) -> str:
    return f"listed in import {t.import_id} row {number}"


_OTHER_ACCOUNT = FieldProblem(
    "account_number",
    "account.other_person",
    "this account is registered to another beneficiary",
    "số tài khoản này đã đăng ký cho người hưởng khác",
)
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
