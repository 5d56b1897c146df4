"""Confirmations: every message from a channel is stored once in the inbox, then applied
idempotently, item by item.

* same message id + same content → the stored answer is replayed, nothing is applied twice;
* same message id + different content → rejected as modified (``rjct.message_id.duplicate``);
* a duplicated item (same source + item key) is stored once;
* an item for an unknown reference, with a different amount, or paid at the post office to an
  ID that is not the beneficiary's is kept and marked, never applied as a payment.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select, update

from adapters.payments.port import ConfirmationItem, InboundMessage
from gateway.db.dialect import insert_ignore
from gateway.db.tables import confirmation, enrollment, inbox_message, payment_instruction, person
from gateway.domain.states import EnrollmentState, InstructionState
from gateway.errors import Conflict
from gateway.security.principal import Actor
from gateway.security.vault import Purpose
from gateway.services import enrollments, ticks
from gateway.services.context import Services

IS = InstructionState
INBOX_PURPOSE = b"inbox"
SETTLE_FROM = (IS.CREATED, IS.SENT, IS.ACCEPTED, IS.UNKNOWN)
REJECT_FROM = (IS.CREATED, IS.SENT, IS.ACCEPTED, IS.UNKNOWN)


@dataclass
class Received:
    inbox_id: int
    replay: bool
    response: dict[str, Any]


@dataclass
class ApplySummary:
    applied: int = 0
    duplicates: int = 0
    results: dict[str, int] = field(default_factory=dict)

    def count(self, result: str) -> None:
        self.results[result] = self.results.get(result, 0) + 1


def content_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def receive(
    svc: Services, msg: InboundMessage, *, response: dict[str, Any] | None = None
) -> Received:
    """Store the message once (its own transaction, before anything is applied)."""
    digest = content_hash(msg.body)
    answer = response or {"ack_status": "ACK", "correlation_id": f"{msg.source}:{msg.message_id}"}
    with svc.db.begin() as conn:
        new_id = conn.execute(
            insert_ignore(conn, inbox_message)
            .values(
                source=msg.source,
                message_id=msg.message_id,
                content_hash=digest,
                kind=msg.kind,
                body_enc=svc.vault.encrypt(msg.body.decode("utf-8", "replace"), INBOX_PURPOSE),
                headers=msg.headers,
                status="received",
                response=answer,
                attempts=0,
                received_at=svc.clock(),
            )
            .returning(inbox_message.c.id)
        ).scalar()
        if new_id is not None:
            return Received(int(new_id), False, answer)
        stored = conn.execute(
            select(
                inbox_message.c.id, inbox_message.c.content_hash, inbox_message.c.response
            ).where(
                inbox_message.c.source == msg.source, inbox_message.c.message_id == msg.message_id
            )
        ).one()
    if stored.content_hash != digest:
        raise Conflict(
            f"message {msg.message_id} was already received with different content",
            f"thông điệp {msg.message_id} đã được nhận với nội dung khác",
            code="rjct.message_id.duplicate",
        )
    return Received(int(stored.id), True, dict(stored.response or answer))


def apply(
    svc: Services,
    inbox_id: int,
    items: Sequence[ConfirmationItem],
    *,
    source: str,
    actor: Actor | None = None,
) -> ApplySummary:
    """Apply the items of one stored message; safe to run again (crash recovery, resend)."""
    actor = actor or Actor.system(f"channel:{source}")
    summary = ApplySummary()
    now = svc.clock()
    with svc.db.begin() as conn:
        claimed = conn.execute(
            update(inbox_message)
            .where(
                inbox_message.c.id == inbox_id, inbox_message.c.status.in_(("received", "failed"))
            )
            .values(attempts=inbox_message.c.attempts + 1)
        ).rowcount
        if not claimed:
            return summary  # already applied (or being applied by another worker)
        for item in items:
            result = _apply_item(svc, conn, inbox_id, source, item, actor, now)
            if result == "duplicate_item":
                summary.duplicates += 1
            else:
                summary.applied += 1
            summary.count(result)
        conn.execute(
            update(inbox_message)
            .where(inbox_message.c.id == inbox_id)
            .values(status="applied", applied_at=now)
        )
    return summary


def receive_and_apply(svc: Services, msg: InboundMessage) -> tuple[Received, ApplySummary]:
    received = receive(svc, msg)
    if received.replay:
        return received, ApplySummary()
    return received, apply(svc, received.inbox_id, msg.items, source=msg.source)


def _apply_item(
    svc: Services,
    conn: Connection,
    inbox_id: int,
    source: str,
    item: ConfirmationItem,
    actor: Actor,
    now: dt.datetime,
) -> str:
    counter_index = svc.vault.index(item.counter_pid, Purpose.PID) if item.counter_pid else None
    conf_id = conn.execute(
        insert_ignore(conn, confirmation)
        .values(
            inbox_id=inbox_id,
            reference=item.reference,
            source=source,
            item_key=item.item_key,
            outcome=item.outcome,
            amount=item.amount,
            reason_code=item.reason_code,
            raw_status=item.raw_status,
            counter_pid_index=counter_index,
            evidence_ref=item.evidence_ref,
            occurred_at=item.occurred_at,
            received_at=now,
        )
        .returning(confirmation.c.id)
    ).scalar()
    if conf_id is None:
        return "duplicate_item"
    instr = conn.execute(
        select(
            payment_instruction,
            enrollment.c.person_id,
            enrollment.c.state.label("e_state"),
            person.c.pid_index,
        )
        .join(enrollment, enrollment.c.id == payment_instruction.c.enrollment_id)
        .join(person, person.c.id == enrollment.c.person_id)
        .where(payment_instruction.c.reference == item.reference)
    ).first()
    result = _decide(conn, instr, item, counter_index, actor, now)
    conn.execute(
        update(confirmation)
        .where(confirmation.c.id == conf_id)
        .values(
            instruction_id=instr.id if instr is not None else None,
            applied_at=now,
            apply_result=result,
        )
    )
    return result


def _decide(
    conn: Connection,
    instr: Any,
    item: ConfirmationItem,
    counter_index: bytes | None,
    actor: Actor,
    now: dt.datetime,
) -> str:
    if instr is None:
        return "unknown_reference"
    if item.outcome == "settled":
        if item.amount is not None and item.amount != instr.amount:
            return "amount_mismatch"
        if counter_index is not None and counter_index != instr.pid_index:
            return "id_mismatch"
        if instr.state == IS.SETTLED:
            return "duplicate_settlement"
        if not _move(conn, instr.id, SETTLE_FROM, IS.SETTLED, now, settled=True):
            return f"ignored_{instr.state}"
        if instr.e_state == EnrollmentState.APPROVED:
            enrollments.transition(
                conn,
                instr.enrollment_id,
                EnrollmentState.PAID,
                actor=actor,
                reason=f"payment {instr.reference} settled",
                now=now,
            )
        ticks.tick_paid(conn, instr.enrollment_id, instr.reference, now)
        return "settled"
    if item.outcome in ("rejected", "unpaid"):
        moved = _move(
            conn, instr.id, REJECT_FROM, IS.REJECTED, now, reason=item.reason_code or item.outcome
        )
        return "rejected" if moved else f"ignored_{instr.state}"
    if item.outcome == "returned":
        if not _move(conn, instr.id, (IS.SETTLED,), IS.RETURNED, now, reason=item.reason_code):
            return f"ignored_{instr.state}"
        if instr.e_state == EnrollmentState.PAID:
            enrollments.transition(
                conn,
                instr.enrollment_id,
                EnrollmentState.APPROVED,
                actor=actor,
                reason=f"payment {instr.reference} returned ({item.reason_code})",
                now=now,
            )
        ticks.withdraw(conn, instr.reference, f"payment returned ({item.reason_code})", now)
        return "returned"
    if item.outcome == "pending":
        moved = _move(conn, instr.id, (IS.SENT, IS.UNKNOWN), IS.ACCEPTED, now)
        return "accepted" if moved else f"ignored_{instr.state}"
    return "unknown_outcome"


def _move(
    conn: Connection,
    instruction_id: int,
    sources: Sequence[str],
    target: str,
    now: dt.datetime,
    *,
    reason: str | None = None,
    settled: bool = False,
) -> bool:
    values: dict[str, Any] = {"state": target, "state_changed_at": now}
    if reason is not None:
        values["reason_code"] = reason
    if settled:
        values["settled_at"] = now
    return bool(
        conn.execute(
            update(payment_instruction)
            .where(
                payment_instruction.c.id == instruction_id,
                payment_instruction.c.state.in_(list(sources)),
            )
            .values(values)
        ).rowcount
    )


def fetch_and_apply(svc: Services, channel: str) -> ApplySummary:
    """Pull confirmations from a pull-based channel (files, fakes) and apply them."""
    total = ApplySummary()
    for msg in svc.channel(channel).fetch_confirmations():
        _, summary = receive_and_apply(svc, msg)
        total.applied += summary.applied
        total.duplicates += summary.duplicates
        for k, v in summary.results.items():
            total.results[k] = total.results.get(k, 0) + v
    return total
