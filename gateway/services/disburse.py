"""Disbursement: approved entitlements become payment instructions, are checked, and are sent.

Each instruction's idempotency key is derived from (programme, period, person, attempt) and its
wire reference from that key, so a re-run creates nothing new and a resend carries the same
reference. A timeout after submitting leaves the outcome *unknown*: it is queried later
(``query_unknown``), never resent blindly.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from adapters.payments.port import Batch, PaymentItem
from gateway.db.dialect import insert_ignore
from gateway.db.tables import (
    admin_unit,
    enrollment,
    payee_account,
    payment_batch,
    payment_instruction,
    person,
    programme,
)
from gateway.db.tables.payments import LIVE_STATES
from gateway.domain.states import EnrollmentState, InstructionState
from gateway.errors import GatewayError, UpstreamTimeout
from gateway.security.principal import Actor
from gateway.security.vault import Purpose
from gateway.services import audit, screen
from gateway.services.context import Services
from gateway.services.payee_check import check_accounts
from gateway.services.status_query import QuerySummary, query_returns, query_unknown

IS = InstructionState
__all__ = [
    "QuerySummary",
    "cancel",
    "check_accounts",
    "create_instructions",
    "query_returns",
    "query_unknown",
    "send_batch",
]


def idempotency_key(programme_code: str, period: str, person_id: int, attempt: int = 1) -> str:
    return f"{programme_code}:{period}:{person_id}:{attempt}"


def wire_reference(key: str) -> str:
    """20 characters, derived from the idempotency key: the same payment, the same reference."""
    digest = hashlib.sha256(key.encode()).digest()
    return "AS" + base64.b32encode(digest).decode()[:18]


@dataclass
class DisburseSummary:
    batches: list[str] = field(default_factory=list)
    created: int = 0
    held: int = 0
    sent: int = 0
    rejected: int = 0
    unknown: int = 0
    amount: int = 0


def create_instructions(
    svc: Services, actor: Actor, programme_code: str, period: str, *, channel: str | None = None
) -> DisburseSummary:
    """One batch per channel for every approved enrollment that has no live or settled payment."""
    summary = DisburseSummary()
    now = svc.clock()
    with svc.db.begin() as conn:
        prog_id = conn.execute(
            select(programme.c.id).where(programme.c.code == programme_code)
        ).scalar_one()
        candidates = _candidates(conn, prog_id, period, channel)
        # screening again, right before money moves: someone may have been ticked meanwhile
        hits = screen.ticked_elsewhere(
            conn,
            prog_id,
            period,
            [EnrollmentState.APPROVED],
            enrollment_ids=[c.id for c in candidates],
        )
        flagged = {h[0] for h in hits}
        screen._flag_all(conn, hits, now)
        by_channel: dict[str, list[object]] = {}
        for c in candidates:
            if c.id not in flagged:
                by_channel.setdefault(c.channel, []).append(c)
        for chan, rows in sorted(by_channel.items()):
            ref = f"{programme_code}-{period}-{chan}-{now:%Y%m%d%H%M%S%f}"
            batch_id = conn.execute(
                insert(payment_batch)
                .values(
                    reference=ref,
                    channel=chan,
                    programme_id=prog_id,
                    period=period,
                    state="created",
                    total_count=0,
                    total_amount=0,
                    actor=actor.label(),
                    created_at=now,
                )
                .returning(payment_batch.c.id)
            ).scalar_one()
            values = [_instruction(programme_code, period, batch_id, r, now) for r in rows]
            for start in range(0, len(values), 500):  # a key already taken is skipped, not paid
                conn.execute(insert_ignore(conn, payment_instruction), values[start : start + 500])
            total, amount = conn.execute(
                select(
                    func.count(), func.coalesce(func.sum(payment_instruction.c.amount), 0)
                ).where(payment_instruction.c.batch_id == batch_id)
            ).one()
            conn.execute(
                update(payment_batch)
                .where(payment_batch.c.id == batch_id)
                .values(total_count=total, total_amount=amount)
            )
            summary.batches.append(ref)
            summary.created += int(total)
            summary.amount += int(amount)
        audit.record(
            conn,
            actor,
            "payment.create_instructions",
            "payment_batch",
            None,
            purpose="disburse approved entitlements",
            detail={
                "programme": programme_code,
                "period": period,
                "batches": summary.batches,
                "created": summary.created,
                "amount": summary.amount,
                "held_ticked_elsewhere": len(flagged),
            },
        )
    return summary


def _candidates(conn: Connection, programme_id: int, period: str, channel: str | None) -> list:
    live = select(payment_instruction.c.enrollment_id).where(
        payment_instruction.c.state.in_(LIVE_STATES)
    )
    query = select(
        enrollment.c.id,
        enrollment.c.person_id,
        enrollment.c.amount,
        enrollment.c.channel,
        enrollment.c.payee_account_id,
        enrollment.c.unit_id,
    ).where(
        enrollment.c.programme_id == programme_id,
        enrollment.c.period == period,
        enrollment.c.state == EnrollmentState.APPROVED,
        enrollment.c.id.not_in(live),
    )
    if channel:
        query = query.where(enrollment.c.channel == channel)
    return list(conn.execute(query.order_by(enrollment.c.id)))


def _instruction(
    programme_code: str, period: str, batch_id: int, row: Any, now: dt.datetime
) -> dict[str, object]:
    # the first attempt; later attempts exist only through an officer's re-issue of a case
    key = idempotency_key(programme_code, period, row.person_id, 1)
    return {
        "enrollment_id": row.id,
        "batch_id": batch_id,
        "attempt": 1,
        "idempotency_key": key,
        "reference": wire_reference(key),
        "channel": row.channel,
        "payee_account_id": row.payee_account_id,
        "payout_unit_id": row.unit_id,
        "amount": row.amount,
        "state": IS.CREATED,
        "created_at": now,
        "state_changed_at": now,
    }


def send_batch(svc: Services, actor: Actor, batch_reference: str) -> DisburseSummary:
    """Submit every *created* instruction of a batch; mark sent, rejected or unknown."""
    summary = DisburseSummary(batches=[batch_reference])
    with svc.db.read() as conn:
        batch = conn.execute(
            select(payment_batch, programme.c.code.label("programme_code"))
            .join(programme, programme.c.id == payment_batch.c.programme_id)
            .where(payment_batch.c.reference == batch_reference)
        ).one()
    if batch.channel == "bank":
        summary.held = check_accounts(svc, batch_reference)
    with svc.db.read() as conn:
        rows = conn.execute(
            select(
                payment_instruction.c.id,
                payment_instruction.c.reference,
                payment_instruction.c.amount,
                person.c.full_name,
                person.c.pid_enc,
                payee_account.c.bin,
                payee_account.c.number_enc,
                admin_unit.c.code.label("point"),
            )
            .join(enrollment, enrollment.c.id == payment_instruction.c.enrollment_id)
            .join(person, person.c.id == enrollment.c.person_id)
            .outerjoin(payee_account, payee_account.c.id == payment_instruction.c.payee_account_id)
            .outerjoin(admin_unit, admin_unit.c.id == payment_instruction.c.payout_unit_id)
            .where(
                payment_instruction.c.batch_id == batch.id,
                payment_instruction.c.state == IS.CREATED,
            )
            .order_by(payment_instruction.c.id)
        ).all()
    if not rows:
        return summary
    items = tuple(_item(svc, r, batch) for r in rows)
    ids = [r.id for r in rows]
    now = svc.clock()
    deadline = now + dt.timedelta(seconds=svc.settings.payments.unknown_deadline_seconds)
    try:
        result = svc.channel(batch.channel).submit(
            Batch(batch_reference, batch.programme_code, batch.period, items)
        )
    except UpstreamTimeout:
        summary.unknown = _mark(svc, ids, IS.UNKNOWN, now, deadline=deadline, reason="timeout")
        return summary
    except GatewayError as exc:
        if exc.retryable:  # nothing reached the channel, or we cannot tell: never resend blindly
            summary.unknown = _mark(svc, ids, IS.UNKNOWN, now, deadline=deadline, reason=exc.code)
            return summary
        raise
    if result.ack == "ACK":
        summary.sent = _mark(svc, ids, IS.SENT, now, deadline=deadline)
    else:
        summary.rejected = _mark(svc, ids, IS.REJECTED, now, reason=f"batch.{result.ack.lower()}")
    with svc.db.begin() as conn:
        conn.execute(
            update(payment_batch)
            .where(payment_batch.c.id == batch.id)
            .values(state="sent" if result.ack == "ACK" else "rejected", sent_at=now)
        )
        audit.record(
            conn,
            actor,
            "payment.send_batch",
            "payment_batch",
            batch.id,
            purpose="disburse approved entitlements",
            detail={"reference": batch_reference, "items": len(ids), "ack": result.ack},
        )
    summary.amount = sum(i.amount for i in items)
    return summary


def _item(svc: Services, row: Any, batch: Any) -> PaymentItem:
    r = row
    account = svc.vault.decrypt(r.number_enc, Purpose.ACCOUNT) if r.number_enc else None
    pid = svc.vault.decrypt(r.pid_enc, Purpose.PID) if r.pid_enc else None
    return PaymentItem(
        reference=r.reference,
        amount=int(r.amount),
        payee_name=r.full_name,
        payee_bin=r.bin,
        payee_account=account,
        payout_point=r.point,
        payee_pid=pid,
        note=f"{batch.programme_code} {batch.period}"[:99],
    )


def _mark(
    svc: Services,
    ids: Sequence[int],
    state: str,
    now: dt.datetime,
    *,
    deadline: dt.datetime | None = None,
    reason: str | None = None,
) -> int:
    with svc.db.begin() as conn:
        done = 0
        for start in range(0, len(ids), 900):
            done += conn.execute(
                update(payment_instruction)
                .where(
                    payment_instruction.c.id.in_(list(ids[start : start + 900])),
                    payment_instruction.c.state == IS.CREATED,
                )
                .values(
                    state=state,
                    sent_at=now,
                    state_changed_at=now,
                    deadline_at=deadline,
                    reason_code=reason,
                )
            ).rowcount
        return done


def cancel(svc: Services, actor: Actor, references: Sequence[str], *, reason: str) -> dict:
    """Cancel instructions before execution: unsent ones here, sent ones at the channel (which
    answers ``succ`` = cancelled or ``rjct`` = already executed). Settled money is never touched."""
    now = svc.clock()
    with svc.db.read() as conn:
        rows = conn.execute(
            select(
                payment_instruction.c.id,
                payment_instruction.c.reference,
                payment_instruction.c.state,
                payment_instruction.c.channel,
            ).where(payment_instruction.c.reference.in_(list(references)))
        ).all()
    outcome: dict[str, str] = {}
    local = [r for r in rows if r.state in (IS.CREATED, IS.HELD)]
    remote = [r for r in rows if r.state in (IS.SENT, IS.ACCEPTED)]
    with svc.db.begin() as conn:
        for r in local:
            moved = _cancel_row(conn, r.id, (IS.CREATED, IS.HELD), reason, now)
            outcome[r.reference] = "cancelled" if moved else "unchanged"
    for channel in sorted({r.channel for r in remote}):
        refs = [r.reference for r in remote if r.channel == channel]
        answers = {a.reference: a for a in svc.channel(channel).cancel(refs)}
        with svc.db.begin() as conn:
            for r in (x for x in remote if x.channel == channel):
                answer = answers.get(r.reference)
                ok = answer is not None and answer.status == "succ"
                if ok and _cancel_row(conn, r.id, (IS.SENT, IS.ACCEPTED), reason, now):
                    outcome[r.reference] = "cancelled"
                else:
                    outcome[r.reference] = (answer.reason_code if answer else None) or "no_answer"
    for r in rows:
        outcome.setdefault(r.reference, f"not_cancellable_{r.state}")
    with svc.db.begin() as conn:
        audit.record(
            conn,
            actor,
            "payment.cancel",
            "payment_instruction",
            None,
            purpose="cancel before execution",
            detail={"reason": reason, "outcome": outcome},
        )
    return outcome


def _cancel_row(
    conn: Connection, instruction_id: int, sources: Sequence[str], reason: str, now: dt.datetime
) -> bool:
    return bool(
        conn.execute(
            update(payment_instruction)
            .where(
                payment_instruction.c.id == instruction_id,
                payment_instruction.c.state.in_(list(sources)),
            )
            .values(state=IS.CANCELLED, reason_text=reason, state_changed_at=now)
        ).rowcount
    )
