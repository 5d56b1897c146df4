"""Applying confirmation items set-based, inside the caller's transaction.

Per chunk of items (from one message or several, in order): one statement stores the new
confirmations (``(source, item_key)`` unique: a duplicated line or callback is stored once),
one reads the stored fingerprints of the others (same fingerprint: a duplicate; another: a
modified report, kept as evidence and never applied), one reads and locks the instructions
named (``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises writers), then the
pure ``gateway.domain.confirmation.decide`` runs item by item in memory, and the changes are
written with a handful of multi-row statements instead of ten round trips per item.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from adapters.payments.port import ConfirmationItem
from gateway.db.dialect import bulk_insert, bulk_update
from gateway.db.tables import (
    confirmation,
    enrollment,
    enrollment_transition,
    inbound_rejection,
    payment_instruction,
    person,
)
from gateway.domain.confirmation import Instruction, Report, decide
from gateway.domain.states import check_enrollment_transition
from gateway.security.principal import Actor
from gateway.security.vault import Purpose
from gateway.services import ticks
from gateway.services.context import Services

CHUNK = 1000
INBOX_PURPOSE = b"inbox"
_KEY = tuple[str, str]  # (source, item_key)


@dataclass
class ApplySummary:
    applied: int = 0
    duplicates: int = 0
    results: dict[str, int] = field(default_factory=dict)

    def count(self, result: str) -> None:
        self.results[result] = self.results.get(result, 0) + 1
        if result == "duplicate_item":
            self.duplicates += 1
        else:
            self.applied += 1

    def add(self, other: ApplySummary) -> None:
        self.applied += other.applied
        self.duplicates += other.duplicates
        for k, v in other.results.items():
            self.results[k] = self.results.get(k, 0) + v


@dataclass(frozen=True)
class Work:
    """One item to apply, with the inbox message it came in."""

    inbox_id: int
    source: str
    item: ConfirmationItem

    @property
    def key(self) -> _KEY:
        return (self.source, self.item.item_key[:160])


@dataclass
class _Prepared:
    work: Work
    fingerprint: str
    counter_index: bytes | None
    conf_id: int | None = None
    result: str | None = None


def apply_items(
    svc: Services, conn: Connection, work: Sequence[Work], actor: Actor, now: dt.datetime
) -> ApplySummary:
    summary = ApplySummary()
    for start in range(0, len(work), CHUNK):
        for p in _apply_chunk(svc, conn, work[start : start + CHUNK], actor, now):
            summary.count(p.result or "unknown_outcome")
    return summary


def _apply_chunk(
    svc: Services, conn: Connection, work: Sequence[Work], actor: Actor, now: dt.datetime
) -> list[_Prepared]:
    prepared = [_prepare(svc, w) for w in work]
    first: dict[_KEY, _Prepared] = {}
    repeats: list[_Prepared] = []
    for p in prepared:
        if p.work.key in first:
            repeats.append(p)
        else:
            first[p.work.key] = p
    _store(conn, list(first.values()), now)
    _judge_known(svc, conn, [p for p in first.values() if p.conf_id is None], now)
    for p in repeats:  # the same key twice in what we are applying now
        _judge(svc, conn, p, first[p.work.key].fingerprint, now)
    fresh = [p for p in prepared if p.conf_id is not None and p.result is None]
    instructions = _lock_instructions(conn, {p.work.item.reference for p in fresh})
    for p in fresh:
        p.result = decide(instructions.get(p.work.item.reference), _report(p), now)
    _write(conn, fresh, instructions, actor, now)
    return prepared


def _prepare(svc: Services, w: Work) -> _Prepared:
    pid = w.item.counter_pid
    return _Prepared(w, w.item.fingerprint(), svc.vault.index(pid, Purpose.PID) if pid else None)


def _report(p: _Prepared) -> Report:
    i = p.work.item
    return Report(
        i.reference, i.outcome, i.amount, i.amount_text, i.currency, i.reason_code, p.counter_index
    )


def _store(conn: Connection, new: list[_Prepared], now: dt.datetime) -> None:
    """Insert in key order (a stable lock order between concurrent appliers)."""
    new.sort(key=lambda p: p.work.key)
    rows = [
        {
            "inbox_id": p.work.inbox_id,
            "reference": p.work.item.reference[:64],
            "source": p.work.source,
            "item_key": p.work.key[1],
            "outcome": p.work.item.outcome[:12],
            "amount": p.work.item.amount,
            "reason_code": (p.work.item.reason_code or None) and p.work.item.reason_code[:40],
            "raw_status": (p.work.item.raw_status or None) and p.work.item.raw_status[:40],
            "counter_pid_index": p.counter_index,
            "evidence_ref": p.work.item.evidence_ref,
            "occurred_at": p.work.item.occurred_at,
            "received_at": now,
            "item_hash": p.fingerprint,
        }
        for p in new
    ]
    if not rows:
        return
    made = bulk_insert(
        conn,
        confirmation,
        rows,
        returning=(confirmation.c.id, confirmation.c.source, confirmation.c.item_key),
        ignore_conflicts=True,
    )
    ids = {(r.source, r.item_key): int(r.id) for r in made}
    for p in new:
        p.conf_id = ids.get(p.work.key)


def _judge_known(svc: Services, conn: Connection, known: list[_Prepared], now: dt.datetime) -> None:
    """Items stored by an earlier message: the same fingerprint is a duplicate."""
    by_source: dict[str, list[_Prepared]] = {}
    for p in known:
        by_source.setdefault(p.work.source, []).append(p)
    for source, group in by_source.items():
        stored = dict(
            conn.execute(
                select(confirmation.c.item_key, confirmation.c.item_hash).where(
                    confirmation.c.source == source,
                    confirmation.c.item_key.in_([p.work.key[1] for p in group]),
                )
            ).all()
        )
        for p in group:
            _judge(svc, conn, p, stored.get(p.work.key[1]), now)


def _judge(
    svc: Services, conn: Connection, p: _Prepared, stored: str | None, now: dt.datetime
) -> None:
    if stored is None or stored == p.fingerprint:
        p.result = "duplicate_item"
        return
    p.result = "modified_item"
    item = p.work.item
    conn.execute(
        inbound_rejection.insert().values(
            channel="",
            source=p.work.source,
            kind="item",
            code="rjct.reference_id.duplicate",
            message="the same item was reported before with different content",
            reference=item.reference[:64],
            inbox_id=p.work.inbox_id,
            content_hash=p.fingerprint,
            body_enc=svc.vault.encrypt(repr(item), INBOX_PURPOSE),
            headers={"item_key": item.item_key[:160]},
            received_at=now,
        )
    )


def _lock_instructions(conn: Connection, references: set[str]) -> dict[str, Instruction]:
    found: dict[str, Instruction] = {}
    refs = sorted(r[:64] for r in references)
    for start in range(0, len(refs), 900):
        query = (
            select(
                payment_instruction.c.id,
                payment_instruction.c.reference,
                payment_instruction.c.amount,
                payment_instruction.c.state,
                payment_instruction.c.reason_code,
                payment_instruction.c.settled_at,
                payment_instruction.c.state_changed_at,
                payment_instruction.c.enrollment_id,
                enrollment.c.state.label("e_state"),
                person.c.pid_index,
            )
            .join(enrollment, enrollment.c.id == payment_instruction.c.enrollment_id)
            .join(person, person.c.id == enrollment.c.person_id)
            .where(payment_instruction.c.reference.in_(refs[start : start + 900]))
            .order_by(payment_instruction.c.id)
            .with_for_update(of=[payment_instruction.c.id, enrollment.c.id])
        )
        for r in conn.execute(query):
            found[r.reference] = Instruction(
                r.id,
                r.reference,
                int(r.amount),
                r.state,
                r.reason_code,
                r.settled_at,
                r.enrollment_id,
                r.e_state,
                r.pid_index,
                r.state_changed_at,
            )
    return found


def _write(
    conn: Connection,
    fresh: list[_Prepared],
    instructions: dict[str, Instruction],
    actor: Actor,
    now: dt.datetime,
) -> None:
    changed = [i for i in instructions.values() if i.changed]
    bulk_update(
        conn,
        payment_instruction,
        "id",
        [
            {
                "id": i.id,
                "state": i.state,
                "state_changed_at": i.state_changed_at,
                "reason_code": i.reason_code,
                "settled_at": i.settled_at,
            }
            for i in changed
        ],
    )
    _write_enrollments(conn, [i for i in changed if i.transitions], actor, now)
    ticks.tick_paid_many(
        conn,
        [(i.enrollment_id, i.reference) for i in changed if ("add", None) in i.ticks],
        now,
    )
    for i in changed:
        for what, reason in i.ticks:
            if what == "withdraw":
                ticks.withdraw(conn, i.reference, reason or "payment returned", now)
    bulk_update(conn, confirmation, "id", [_confirmation_row(p, instructions, now) for p in fresh])


def _confirmation_row(
    p: _Prepared, instructions: dict[str, Instruction], now: dt.datetime
) -> dict[str, Any]:
    instr = instructions.get(p.work.item.reference)
    return {
        "id": p.conf_id,
        "instruction_id": instr.id if instr is not None else None,
        "applied_at": now,
        "apply_result": p.result,
    }


def _write_enrollments(
    conn: Connection, moved: list[Instruction], actor: Actor, now: dt.datetime
) -> None:
    if not moved:
        return
    history = []
    for i in moved:
        for source, target, reason in i.transitions:
            check_enrollment_transition(source, target)
            history.append(
                {
                    "enrollment_id": i.enrollment_id,
                    "from_state": source,
                    "to_state": target,
                    "actor": actor.label(),
                    "reason": reason,
                    "at": now,
                }
            )
    bulk_update(
        conn,
        enrollment,
        "id",
        [{"id": i.enrollment_id, "state": i.enrollment_state, "updated_at": now} for i in moved],
    )
    bulk_insert(conn, enrollment_transition, history)
