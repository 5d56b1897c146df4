"""Reconciliation: approved entitlements × instructions × confirmations × registry × ticks.

Each mismatch type is one set-based query inside the database; only discrepancies come back.
A run opens a case per new discrepancy, keeps existing open cases (never a duplicate: a partial
unique index on open cases), and closes cases whose cause disappeared, with the reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, exists, func, insert, select, text, update
from sqlalchemy.orm import aliased

from gateway.db.dialect import insert_ignore
from gateway.db.tables import (
    confirmation,
    enrollment,
    mismatch_case,
    payee_account,
    payment_batch,
    payment_instruction,
    person,
    programme,
    recon_run,
    registry_verification,
    tick,
)
from gateway.domain.reconciliation import Finding, plan
from gateway.domain.states import EnrollmentState, InstructionState, MismatchType
from gateway.services.context import Services

M, IS, E = MismatchType, InstructionState, EnrollmentState
IN_FLIGHT = (IS.CREATED, IS.SENT, IS.ACCEPTED, IS.UNKNOWN, IS.HELD)
ENTITLED = (E.APPROVED, E.PAID)


@dataclass
class ReconcileSummary:
    run_id: int
    opened: int = 0
    still_open: int = 0
    closed: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


def approved_unpaid(conn: Connection, now: dt.datetime) -> list[Finding]:
    live = select(payment_instruction.c.enrollment_id).where(
        payment_instruction.c.state.in_((*IN_FLIGHT, IS.SETTLED))
    )
    disbursed = exists().where(
        payment_batch.c.programme_id == enrollment.c.programme_id,
        payment_batch.c.period == enrollment.c.period,
    )
    last = aliased(payment_instruction)
    rows = conn.execute(
        select(
            enrollment.c.id,
            enrollment.c.unit_id,
            enrollment.c.programme_id,
            enrollment.c.period,
            enrollment.c.person_id,
            enrollment.c.amount,
            select(last.c.reason_code)
            .where(last.c.enrollment_id == enrollment.c.id)
            .order_by(last.c.attempt.desc())
            .limit(1)
            .scalar_subquery()
            .label("last_reason"),
        ).where(enrollment.c.state == E.APPROVED, enrollment.c.id.not_in(live), disbursed)
    )
    return [
        Finding(
            M.APPROVED_UNPAID,
            f"e:{r.id}",
            r.unit_id,
            r.programme_id,
            r.period,
            r.person_id,
            r.id,
            None,
            {"amount": r.amount, "last_reason": r.last_reason},
        )
        for r in rows
    ]


def _instruction_findings(
    conn: Connection,
    mtype: MismatchType,
    where: Any,
    evidence: Callable[[Any], dict[str, object]],
) -> list[Finding]:
    rows = conn.execute(
        select(
            payment_instruction.c.id,
            payment_instruction.c.reference,
            payment_instruction.c.amount,
            payment_instruction.c.state,
            payment_instruction.c.reason_code,
            enrollment.c.id.label("eid"),
            enrollment.c.unit_id,
            enrollment.c.programme_id,
            enrollment.c.period,
            enrollment.c.person_id,
            enrollment.c.state.label("e_state"),
        )
        .join(enrollment, enrollment.c.id == payment_instruction.c.enrollment_id)
        .where(where)
    )
    return [
        Finding(
            mtype,
            f"i:{r.id}",
            r.unit_id,
            r.programme_id,
            r.period,
            r.person_id,
            r.eid,
            r.id,
            {"reference": r.reference, "amount": r.amount, **evidence(r)},
        )
        for r in rows
    ]


def paid_not_approved(conn: Connection, now: dt.datetime) -> list[Finding]:
    return _instruction_findings(
        conn,
        M.PAID_NOT_APPROVED,
        and_(payment_instruction.c.state == IS.SETTLED, enrollment.c.state.not_in(ENTITLED)),
        lambda r: {"enrollment_state": r.e_state},
    )


def duplicate_payment(conn: Connection, now: dt.datetime) -> list[Finding]:
    """A reference settled more than once. (The same person paid by two programmes or localities
    of one exclusion group surfaces as ticked_elsewhere.)"""
    dup = select(confirmation.c.instruction_id).where(
        confirmation.c.apply_result == "duplicate_settlement"
    )
    return _instruction_findings(
        conn,
        M.DUPLICATE_PAYMENT,
        payment_instruction.c.id.in_(dup),
        lambda r: {"confirmations": "more than one settlement for this reference"},
    )


def amount_mismatch(conn: Connection, now: dt.datetime) -> list[Finding]:
    bad = select(confirmation.c.instruction_id).where(
        confirmation.c.apply_result == "amount_mismatch"
    )
    return _instruction_findings(
        conn, M.AMOUNT_MISMATCH, payment_instruction.c.id.in_(bad), lambda r: {"state": r.state}
    )


def returned_payment(conn: Connection, now: dt.datetime) -> list[Finding]:
    return _instruction_findings(
        conn,
        M.RETURNED_PAYMENT,
        payment_instruction.c.state.in_((IS.RETURNED, IS.REJECTED)),
        lambda r: {"state": r.state, "reason_code": r.reason_code},
    )


def account_name_mismatch(conn: Connection, now: dt.datetime) -> list[Finding]:
    return _instruction_findings(
        conn,
        M.ACCOUNT_NAME_MISMATCH,
        and_(
            payment_instruction.c.state == IS.HELD,
            payment_instruction.c.payee_account_id.in_(
                select(payee_account.c.id).where(payee_account.c.status == "mismatch")
            ),
        ),
        lambda r: {"reason_code": r.reason_code},
    )


def unknown_overdue(conn: Connection, now: dt.datetime) -> list[Finding]:
    return _instruction_findings(
        conn,
        M.UNKNOWN_OUTCOME_OVERDUE,
        and_(payment_instruction.c.state == IS.UNKNOWN, payment_instruction.c.deadline_at < now),
        lambda r: {"state": r.state},
    )


def unknown_reference(conn: Connection, now: dt.datetime) -> list[Finding]:
    rows = conn.execute(
        select(
            confirmation.c.id,
            confirmation.c.source,
            confirmation.c.item_key,
            confirmation.c.reference,
            confirmation.c.amount,
            confirmation.c.outcome,
        ).where(confirmation.c.apply_result == "unknown_reference")
    )
    return [
        Finding(
            M.UNKNOWN_REFERENCE,
            f"c:{r.source}:{r.item_key}"[:160],
            evidence={
                "reference": r.reference,
                "amount": r.amount,
                "outcome": r.outcome,
                "source": r.source,
            },
        )
        for r in rows
    ]


def _registry_findings(conn: Connection, mtype: MismatchType, outcome: str) -> list[Finding]:
    latest = (
        select(func.max(registry_verification.c.id))
        .where(registry_verification.c.outcome != "error")
        .group_by(registry_verification.c.enrollment_id)
    )
    rows = conn.execute(
        select(
            enrollment.c.id,
            enrollment.c.unit_id,
            enrollment.c.programme_id,
            enrollment.c.period,
            enrollment.c.person_id,
            registry_verification.c.fields,
            registry_verification.c.checked_at,
        )
        .join(registry_verification, registry_verification.c.enrollment_id == enrollment.c.id)
        .where(
            registry_verification.c.id.in_(latest),
            registry_verification.c.outcome == outcome,
            enrollment.c.state.in_(ENTITLED),
        )
    )
    return [
        Finding(
            mtype,
            f"e:{r.id}",
            r.unit_id,
            r.programme_id,
            r.period,
            r.person_id,
            r.id,
            None,
            {"fields": r.fields, "checked_at": r.checked_at.isoformat()},
        )
        for r in rows
    ]


def identity_mismatch(conn: Connection, now: dt.datetime) -> list[Finding]:
    found = _registry_findings(conn, M.IDENTITY_MISMATCH, "mismatch")
    rows = conn.execute(
        select(
            confirmation.c.id,
            confirmation.c.instruction_id,
            confirmation.c.evidence_ref,
            enrollment.c.id.label("eid"),
            enrollment.c.unit_id,
            enrollment.c.programme_id,
            enrollment.c.period,
            enrollment.c.person_id,
        )
        .join(payment_instruction, payment_instruction.c.id == confirmation.c.instruction_id)
        .join(enrollment, enrollment.c.id == payment_instruction.c.enrollment_id)
        .where(confirmation.c.apply_result == "id_mismatch")
    )
    return found + [
        Finding(
            M.IDENTITY_MISMATCH,
            f"c:{r.id}",
            r.unit_id,
            r.programme_id,
            r.period,
            r.person_id,
            r.eid,
            r.instruction_id,
            {"counter_id": "differs from the beneficiary's", "evidence_ref": r.evidence_ref},
        )
        for r in rows
    ]


def not_found(conn: Connection, now: dt.datetime) -> list[Finding]:
    return _registry_findings(conn, M.NOT_FOUND, "not_found")


def deceased(conn: Connection, now: dt.datetime) -> list[Finding]:
    rows = conn.execute(
        select(
            enrollment.c.id,
            enrollment.c.unit_id,
            enrollment.c.programme_id,
            enrollment.c.period,
            enrollment.c.person_id,
            enrollment.c.state,
            person.c.death_date,
        )
        .join(person, person.c.id == enrollment.c.person_id)
        .where(person.c.vital_status == "deceased", enrollment.c.state.in_(ENTITLED))
    )
    return [
        Finding(
            M.DECEASED,
            f"e:{r.id}",
            r.unit_id,
            r.programme_id,
            r.period,
            r.person_id,
            r.id,
            None,
            {"state": r.state, "death_date": r.death_date.isoformat() if r.death_date else None},
        )
        for r in rows
    ]


def ticked_elsewhere(conn: Connection, now: dt.datetime) -> list[Finding]:
    own = select(payment_instruction.c.reference).where(
        payment_instruction.c.enrollment_id == enrollment.c.id
    )
    rows = conn.execute(
        select(
            enrollment.c.id,
            enrollment.c.unit_id,
            enrollment.c.programme_id,
            enrollment.c.period,
            enrollment.c.person_id,
            tick.c.programme_code,
            tick.c.payment_ref,
            tick.c.source,
            tick.c.unit_id.label("tick_unit"),
        )
        .join(programme, programme.c.id == enrollment.c.programme_id)
        .join(
            tick,
            and_(
                tick.c.person_id == enrollment.c.person_id,
                tick.c.state == "active",
                tick.c.exclusion_group == programme.c.exclusion_group,
                tick.c.period == enrollment.c.period,
            ),
        )
        .where(
            enrollment.c.state.in_(ENTITLED),
            (tick.c.payment_ref.is_(None)) | tick.c.payment_ref.not_in(own),
        )
    )
    return [
        Finding(
            M.TICKED_ELSEWHERE,
            f"e:{r.id}:{r.payment_ref}"[:160],
            r.unit_id,
            r.programme_id,
            r.period,
            r.person_id,
            r.id,
            None,
            {
                "programme": r.programme_code,
                "payment_ref": r.payment_ref,
                "source": r.source,
                "unit_id": r.tick_unit,
            },
        )
        for r in rows
    ]


CHECKS: dict[MismatchType, Callable[[Connection, dt.datetime], list[Finding]]] = {
    M.APPROVED_UNPAID: approved_unpaid,
    M.PAID_NOT_APPROVED: paid_not_approved,
    M.DUPLICATE_PAYMENT: duplicate_payment,
    M.AMOUNT_MISMATCH: amount_mismatch,
    M.IDENTITY_MISMATCH: identity_mismatch,
    M.DECEASED: deceased,
    M.NOT_FOUND: not_found,
    M.TICKED_ELSEWHERE: ticked_elsewhere,
    M.ACCOUNT_NAME_MISMATCH: account_name_mismatch,
    M.RETURNED_PAYMENT: returned_payment,
    M.UNKNOWN_OUTCOME_OVERDUE: unknown_overdue,
    M.UNKNOWN_REFERENCE: unknown_reference,
}


def run(svc: Services, *, kind: str = "full") -> ReconcileSummary:
    now = svc.clock()
    with svc.db.begin() as conn:
        run_id = int(
            conn.execute(
                insert(recon_run)
                .values(kind=kind, started_at=now, counts={}, outcome="running")
                .returning(recon_run.c.id)
            ).scalar_one()
        )
        findings = [f for check in CHECKS.values() for f in check(conn, now)]
        open_cases = {
            (t, k): int(i)
            for i, t, k in conn.execute(
                select(mismatch_case.c.id, mismatch_case.c.type, mismatch_case.c.dedup_key).where(
                    mismatch_case.c.status == "open"
                )
            )
        }
        delta = plan(findings, open_cases, frozenset(str(t) for t in CHECKS))
        summary = ReconcileSummary(
            run_id, len(delta.to_open), len(delta.still_open), len(delta.to_close)
        )
        _open(conn, delta.to_open, run_id, now)
        _touch(conn, delta.still_open, run_id, now)
        _close(conn, delta.to_close, run_id, now)
        for f in findings:
            summary.by_type[str(f.type)] = summary.by_type.get(str(f.type), 0) + 1
        conn.execute(
            update(recon_run)
            .where(recon_run.c.id == run_id)
            .values(
                finished_at=svc.clock(),
                outcome="succeeded",
                counts={
                    "opened": summary.opened,
                    "still_open": summary.still_open,
                    "closed": summary.closed,
                    "by_type": summary.by_type,
                },
            )
        )
    return summary


def _open(conn: Connection, findings: tuple[Finding, ...], run_id: int, now: dt.datetime) -> None:
    stmt = insert_ignore(
        conn,
        mismatch_case,
        index_elements=["type", "dedup_key"],
        index_where=text("status = 'open'"),
    )
    rows = [
        {
            "type": str(f.type),
            "dedup_key": f.dedup_key,
            "status": "open",
            "unit_id": f.unit_id,
            "programme_id": f.programme_id,
            "period": f.period,
            "person_id": f.person_id,
            "enrollment_id": f.enrollment_id,
            "instruction_id": f.instruction_id,
            "evidence": f.evidence,
            "opened_at": now,
            "updated_at": now,
            "opened_run_id": run_id,
            "last_seen_run_id": run_id,
        }
        for f in findings
    ]
    for start in range(0, len(rows), 500):
        conn.execute(stmt, rows[start : start + 500])


def _touch(conn: Connection, ids: tuple[int, ...], run_id: int, now: dt.datetime) -> None:
    for start in range(0, len(ids), 900):
        conn.execute(
            update(mismatch_case)
            .where(mismatch_case.c.id.in_(ids[start : start + 900]))
            .values(last_seen_run_id=run_id)
        )


def _close(conn: Connection, ids: tuple[int, ...], run_id: int, now: dt.datetime) -> None:
    for start in range(0, len(ids), 900):
        conn.execute(
            update(mismatch_case)
            .where(
                mismatch_case.c.id.in_(ids[start : start + 900]), mismatch_case.c.status == "open"
            )
            .values(
                status="closed",
                closed_at=now,
                updated_at=now,
                resolution="auto_closed",
                resolution_reason=f"cause no longer present in reconciliation run {run_id}",
            )
        )
