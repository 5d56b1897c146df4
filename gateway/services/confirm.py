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
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from adapters.payments.port import ConfirmationItem, InboundMessage, batch_message_id
from gateway.db.fast_insert import FastInsert
from gateway.db.tables import inbox_message, payment_batch, payment_instruction
from gateway.domain.states import InstructionState
from gateway.errors import Conflict
from gateway.security.principal import Actor
from gateway.services.confirm_items import INBOX_PURPOSE, ApplySummary, Work, apply_items
from gateway.services.context import Services

IS = InstructionState
OPEN_FOR_BATCH = (IS.SENT, IS.ACCEPTED, IS.UNKNOWN)
__all__ = ["ApplySummary", "apply", "apply_messages", "receive", "receive_and_apply"]


@dataclass
class Received:
    inbox_id: int
    replay: bool
    response: dict[str, Any]
    status: str = "received"


@dataclass(frozen=True)
class Stored:
    """A message in the inbox, ready to apply: its id, who sent it, its decoded items."""

    inbox_id: int
    source: str
    items: Sequence[ConfirmationItem]


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


INBOX_COLUMNS = (
    "source",
    "message_id",
    "content_hash",
    "kind",
    "body_enc",
    "headers",
    "status",
    "response",
    "attempts",
    "received_at",
)


def _store(svc: Services) -> FastInsert:
    """The inbox insert of every callback, compiled once per service container."""
    store = svc.extras.get("inbox_insert")
    if not isinstance(store, FastInsert):
        store = FastInsert(svc.db.engine, inbox_message, INBOX_COLUMNS, "id")
        svc.extras["inbox_insert"] = store
    return store


def receive(
    svc: Services,
    msg: InboundMessage,
    *,
    response: dict[str, Any] | None = None,
    channel: str | None = None,
) -> Received:
    """Store the message once (its own transaction, committed before anything is applied
    and before the sender gets its answer)."""
    digest = content_hash(msg.body)
    answer = response or {"ack_status": "ACK", "correlation_id": f"{msg.source}:{msg.message_id}"}
    headers = {**msg.headers, "channel": channel or msg.headers.get("channel", "")}
    if msg.warnings:
        headers["warnings"] = " | ".join(msg.warnings)[:2000]
    new_id = _store(svc)(
        svc.db.engine,
        {
            "source": msg.source,
            "message_id": msg.message_id,
            "content_hash": digest,
            "kind": msg.kind,
            "body_enc": seal_body(svc, msg.body),
            "headers": headers,
            "status": "received",
            "response": answer,
            "attempts": 0,
            "received_at": svc.clock(),
        },
    )
    if new_id is not None:
        return Received(int(new_id), False, answer)
    with svc.db.read() as conn:  # stored before (committed: a conflict waits for the other)
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
    """Apply the items of one stored message; safe to run again (crash recovery, resend, two
    workers): a message is claimed once, and the claim locks it until commit."""
    return apply_messages(svc, [Stored(inbox_id, source, items)], actor=actor)


def apply_messages(
    svc: Services, messages: Sequence[Stored], *, actor: Actor | None = None
) -> ApplySummary:
    """Apply several stored messages in one transaction, in inbox order. Messages already
    applied — or being applied by another worker (PostgreSQL ``SKIP LOCKED``) — are skipped."""
    summary = ApplySummary()
    now = svc.clock()
    with svc.db.begin() as conn:
        claimed = set(_claim(conn, [m.inbox_id for m in messages]))
        if not claimed:
            return summary
        pending: list[Work] = []
        who = actor or Actor.system("channel")
        for m in sorted(messages, key=lambda m: m.inbox_id):
            if m.inbox_id not in claimed:
                continue
            sender = actor or Actor.system(f"channel:{m.source}")
            if pending and sender.label() != who.label():
                summary.add(apply_items(svc, conn, pending, who, now))
                pending = []
            who = sender
            pending += [Work(m.inbox_id, m.source, i) for i in m.items if i.scope != "batch"]
            batch_level = [i for i in m.items if i.scope == "batch"]
            if batch_level:  # after the item-level statuses before it, as they were sent
                summary.add(apply_items(svc, conn, pending, who, now))
                summary.add(apply_items(svc, conn, _expand(conn, m, batch_level), who, now))
                pending = []
        summary.add(apply_items(svc, conn, pending, who, now))
        conn.execute(
            update(inbox_message)
            .where(inbox_message.c.id.in_(sorted(claimed)))
            .values(status="applied", applied_at=now, attempts=inbox_message.c.attempts + 1)
        )
    return summary


def _claim(conn: Connection, ids: Sequence[int]) -> list[int]:
    """Lock the messages still to apply until commit (SQLite: ``BEGIN IMMEDIATE`` already
    serialises writers); a message another worker is applying right now is skipped."""
    return list(
        conn.execute(
            select(inbox_message.c.id)
            .where(
                inbox_message.c.id.in_(list(ids)),
                inbox_message.c.status.in_(("received", "failed")),
            )
            .order_by(inbox_message.c.id)
            .with_for_update(skip_locked=True)
        ).scalars()
    )


def receive_and_apply(svc: Services, msg: InboundMessage) -> tuple[Received, ApplySummary]:
    """Store, then apply — also when a resend finds the message stored but not yet applied
    (the first delivery crashed between the two steps)."""
    received = receive(svc, msg)
    if received.replay and received.status == "applied":
        return received, ApplySummary()
    return received, apply(svc, received.inbox_id, msg.items, source=msg.source)


def _expand(conn: Connection, msg: Stored, batch_level: list[ConfirmationItem]) -> list[Work]:
    """A batch-level status becomes one item per open instruction of the batch."""
    out: list[Work] = []
    for item in batch_level:
        members = _batch_members(conn, item.reference)
        if members is None:  # an unknown batch: kept as an unknown reference
            out.append(Work(msg.inbox_id, msg.source, item))
            continue
        out += [
            Work(
                msg.inbox_id,
                msg.source,
                ConfirmationItem(
                    reference=ref,
                    item_key=f"{item.item_key}:{ref}"[:160],
                    outcome=item.outcome,
                    reason_code=item.reason_code,
                    raw_status=item.raw_status,
                    occurred_at=item.occurred_at,
                    note=item.note,
                ),
            )
            for ref in members
        ]
    return out


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


def fetch_and_apply(svc: Services, channel: str) -> ApplySummary:
    """Pull confirmations from a pull-based channel (files, fakes) and apply them."""
    total = ApplySummary()
    for msg in svc.channel(channel).fetch_confirmations():
        _, summary = receive_and_apply(svc, msg)
        total.add(summary)
    return total
