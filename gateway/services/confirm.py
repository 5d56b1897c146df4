"""Confirmations: every message from a channel is stored once in the inbox, then applied
idempotently, item by item.

* same message id + same content → the stored answer is replayed, nothing is applied twice;
* same message id + different content → rejected as modified (``rjct.message_id.duplicate``);
* the same item reported twice (same source + item key, same fingerprint) is stored once; the
  same key with another fingerprint is a modified report (``rjct.reference_id.duplicate``): kept
  as evidence, never applied;
* an item for an unknown reference, with a different amount or currency, or paid at the post
  office to an ID that is not the beneficiary's is kept and marked, never applied as a payment;
* a batch-level status (pain.002 group or payment-information status) applies to the batch's
  open instructions, after the item-level statuses of the same message.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select, update

from adapters.payments.port import ConfirmationItem, InboundMessage, batch_message_id
from gateway.db.dialect import insert_ignore
from gateway.db.tables import (
    confirmation,
    enrollment,
    inbound_rejection,
    inbox_message,
    payment_batch,
    payment_instruction,
    person,
)
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
OPEN_FOR_BATCH = (IS.SENT, IS.ACCEPTED, IS.UNKNOWN)


@dataclass
class Received:
    inbox_id: int
    replay: bool
    response: dict[str, Any]
    status: str = "received"


@dataclass
class ApplySummary:
    applied: int = 0
    duplicates: int = 0
    results: dict[str, int] = field(default_factory=dict)

    def count(self, result: str) -> None:
        self.results[result] = self.results.get(result, 0) + 1

    def add(self, other: ApplySummary) -> None:
        self.applied += other.applied
        self.duplicates += other.duplicates
        for k, v in other.results.items():
            self.results[k] = self.results.get(k, 0) + v


def content_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def seal_body(svc: Services, body: bytes) -> bytes:
    """Encrypt raw bytes as received (UTF-8 text as is, anything else — XLSX — as base64)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = "base64:" + base64.b64encode(body).decode()
    return svc.vault.encrypt(text, INBOX_PURPOSE)


def open_body(svc: Services, blob: bytes) -> bytes:
    text = svc.vault.decrypt(blob, INBOX_PURPOSE)
    return base64.b64decode(text[7:]) if text.startswith("base64:") else text.encode()


def receive(
    svc: Services,
    msg: InboundMessage,
    *,
    response: dict[str, Any] | None = None,
    channel: str | None = None,
) -> Received:
    """Store the message once (its own transaction, before anything is applied)."""
    digest = content_hash(msg.body)
    answer = response or {"ack_status": "ACK", "correlation_id": f"{msg.source}:{msg.message_id}"}
    headers = {**msg.headers, "channel": channel or msg.headers.get("channel", "")}
    if msg.warnings:
        headers["warnings"] = " | ".join(msg.warnings)[:2000]
    with svc.db.begin() as conn:
        new_id = conn.execute(
            insert_ignore(conn, inbox_message)
            .values(
                source=msg.source,
                message_id=msg.message_id,
                content_hash=digest,
                kind=msg.kind,
                body_enc=seal_body(svc, msg.body),
                headers=headers,
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
                inbox_message.c.id,
                inbox_message.c.content_hash,
                inbox_message.c.response,
                inbox_message.c.status,
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
    return Received(int(stored.id), True, dict(stored.response or answer), stored.status)


def apply(
    svc: Services,
    inbox_id: int,
    items: Sequence[ConfirmationItem],
    *,
    source: str,
    actor: Actor | None = None,
) -> ApplySummary:
    """Apply the items of one stored message in one transaction; safe to run again (crash
    recovery, resend, two workers): the claim below locks the inbox row until commit."""
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
            return summary  # already applied (or applied meanwhile by another worker)
        ordered = sorted(items, key=lambda i: i.scope == "batch")  # items first, then batches
        for item in ordered:
            for result in _apply_scoped(svc, conn, inbox_id, source, item, actor, now):
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
    """Store, then apply — also when a resend finds the message stored but not yet applied
    (the first delivery crashed between the two steps)."""
    received = receive(svc, msg)
    if received.replay and received.status == "applied":
        return received, ApplySummary()
    return received, apply(svc, received.inbox_id, msg.items, source=msg.source)


def _apply_scoped(
    svc: Services,
    conn: Connection,
    inbox_id: int,
    source: str,
    item: ConfirmationItem,
    actor: Actor,
    now: dt.datetime,
) -> list[str]:
    if item.scope != "batch":
        return [_apply_item(svc, conn, inbox_id, source, item, actor, now)]
    members = _batch_members(conn, item.reference)
    if members is None:
        return [_apply_item(svc, conn, inbox_id, source, item, actor, now)]  # unknown reference
    return [
        _apply_item(
            svc,
            conn,
            inbox_id,
            source,
            ConfirmationItem(
                reference=ref,
                item_key=f"{item.item_key}:{ref}"[:160],
                outcome=item.outcome,
                reason_code=item.reason_code,
                raw_status=item.raw_status,
                occurred_at=item.occurred_at,
                note=item.note,
            ),
            actor,
            now,
        )
        for ref in members
    ]


def _batch_members(conn: Connection, wire_id: str) -> list[str] | None:
    batches = conn.execute(select(payment_batch.c.id, payment_batch.c.reference)).all()
    match = next(
        (b.id for b in batches if wire_id in (b.reference, batch_message_id(b.reference))), None
    )
    if match is None:
        return None
    return list(
        conn.execute(
            select(payment_instruction.c.reference)
            .where(
                payment_instruction.c.batch_id == match,
                payment_instruction.c.state.in_(OPEN_FOR_BATCH),
            )
            .order_by(payment_instruction.c.id)
        ).scalars()
    )


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
    fingerprint = item.fingerprint()
    conf_id = conn.execute(
        insert_ignore(conn, confirmation)
        .values(
            inbox_id=inbox_id,
            reference=item.reference[:64],
            source=source,
            item_key=item.item_key[:160],
            outcome=item.outcome[:12],
            amount=item.amount,
            reason_code=(item.reason_code or None) and item.reason_code[:40],
            raw_status=(item.raw_status or None) and item.raw_status[:40],
            counter_pid_index=counter_index,
            evidence_ref=item.evidence_ref,
            occurred_at=item.occurred_at,
            received_at=now,
            item_hash=fingerprint,
        )
        .returning(confirmation.c.id)
    ).scalar()
    if conf_id is None:
        return _duplicate(svc, conn, inbox_id, source, item, fingerprint, now)
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


def _duplicate(
    svc: Services,
    conn: Connection,
    inbox_id: int,
    source: str,
    item: ConfirmationItem,
    fingerprint: str,
    now: dt.datetime,
) -> str:
    stored = conn.execute(
        select(confirmation.c.item_hash).where(
            confirmation.c.source == source, confirmation.c.item_key == item.item_key[:160]
        )
    ).scalar()
    if stored is None or stored == fingerprint:
        return "duplicate_item"
    conn.execute(
        inbound_rejection.insert().values(
            channel="",
            source=source,
            kind="item",
            code="rjct.reference_id.duplicate",
            message="the same item was reported before with different content",
            reference=item.reference[:64],
            inbox_id=inbox_id,
            content_hash=fingerprint,
            body_enc=svc.vault.encrypt(repr(item), INBOX_PURPOSE),
            headers={"item_key": item.item_key[:160]},
            received_at=now,
        )
    )
    return "modified_item"


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
        return _settle(conn, instr, item, counter_index, actor, now)
    if item.outcome in ("rejected", "unpaid"):
        moved = _move(
            conn, instr.id, REJECT_FROM, IS.REJECTED, now, reason=item.reason_code or item.outcome
        )
        return "rejected" if moved else f"ignored_{instr.state}"
    if item.outcome == "returned":
        return _return(conn, instr, item, actor, now)
    if item.outcome == "pending":
        moved = _move(conn, instr.id, (IS.SENT, IS.UNKNOWN), IS.ACCEPTED, now)
        return "accepted" if moved else f"ignored_{instr.state}"
    return "unknown_outcome"  # credited, proprietary status, instructed: stored, never applied


def _settle(
    conn: Connection,
    instr: Any,
    item: ConfirmationItem,
    counter_index: bytes | None,
    actor: Actor,
    now: dt.datetime,
) -> str:
    if (item.currency or "VND") != "VND":
        return "amount_mismatch"
    if item.amount is not None and item.amount != instr.amount:
        return "amount_mismatch"
    if item.amount is None and item.amount_text is not None:
        return "amount_mismatch"  # a fraction of a dong: not what we instructed
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


def _return(
    conn: Connection, instr: Any, item: ConfirmationItem, actor: Actor, now: dt.datetime
) -> str:
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
        values["reason_code"] = reason[:40]
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
        total.add(summary)
    return total
