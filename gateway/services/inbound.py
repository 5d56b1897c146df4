"""What arrives from the payment channels: signed callbacks, ISO 20022 files, post-office return
files — checked, stored once, answered, applied; refused input kept as evidence.

Order for a callback (G2P Connect ``on-disburse``): decode (signature and time window first) →
store in the inbox once → answer ACK → apply idempotently. A refusal at any step is recorded in
``inbound_rejection`` with its distinct code and the raw bytes, and changes no payment.
``apply_pending`` is the recovery path for messages stored but never applied (a worker crashed
between the two steps, or ``ANSINH_PAYMENTS_APPLY_ON_RECEIVE=false`` leaves applying to a job).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from adapters.payments.port import InboundMessage
from gateway.db.tables import inbound_rejection, inbox_message
from gateway.errors import Conflict, GatewayError
from gateway.security.principal import Actor
from gateway.services import audit, confirm
from gateway.services.context import Services

log = logging.getLogger("ansinh.payments")


@dataclass
class Answer:
    body: dict[str, Any]
    replay: bool = False
    summary: confirm.ApplySummary = field(default_factory=confirm.ApplySummary)


def record_rejection(
    svc: Services,
    *,
    channel: str,
    kind: str,
    body: bytes,
    error: GatewayError,
    source: str = "",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    """Keep a refused message: the code says why, the encrypted bytes are the evidence."""
    with svc.db.begin() as conn:
        conn.execute(
            inbound_rejection.insert().values(
                channel=channel[:12],
                source=(source or channel)[:64],
                kind=kind[:32],
                code=error.code[:64],
                message=error.message,
                message_id=message_id and message_id[:128],
                content_hash=confirm.content_hash(body),
                body_enc=confirm.seal_body(svc, body),
                headers=headers or {},
                received_at=svc.clock(),
            )
        )
    replay = error.code.startswith("dup.")  # a resend we answered again: routine, not a refusal
    log.log(
        logging.INFO if replay else logging.WARNING,
        "inbound message replayed" if replay else "inbound message refused",
        extra={"channel": channel, "kind": kind, "code": error.code, "bytes": len(body)},
    )


def _ack(msg: InboundMessage, svc: Services) -> dict[str, Any]:
    return {
        "ack_status": "ACK",
        "correlation_id": f"{msg.source}:{msg.message_id}"[:99],
        "timestamp": svc.clock().isoformat(timespec="seconds"),
    }


def handle_callback(svc: Services, channel: str, kind: str, body: bytes) -> Answer:
    port = svc.channel(channel)
    try:
        msg = port.decode(kind, body, verify=True)
    except GatewayError as exc:
        record_rejection(svc, channel=channel, kind=kind, body=body, error=exc)
        raise
    try:
        received = confirm.receive(svc, msg, response=_ack(msg, svc), channel=channel)
    except Conflict as exc:
        record_rejection(
            svc,
            channel=channel,
            kind=kind,
            body=body,
            error=exc,
            source=msg.source,
            message_id=msg.message_id,
        )
        raise
    answer = Answer({"message": received.response}, replay=received.replay)
    if received.replay:
        _note_replay(svc, channel, msg)
    if received.replay and received.status == "applied":
        return answer
    if svc.settings.payments.apply_on_receive:
        answer.summary = confirm.apply(svc, received.inbox_id, msg.items, source=msg.source)
    return answer


def _note_replay(svc: Services, channel: str, msg: InboundMessage) -> None:
    replayed = GatewayError(
        "the same message was delivered again; the stored answer was replayed",
        code="dup.message_id.replayed",
    )
    record_rejection(
        svc,
        channel=channel,
        kind=msg.kind,
        body=msg.body,
        error=replayed,
        source=msg.source,
        message_id=msg.message_id,
    )


def guess_kind(body: bytes) -> str:
    head = body[:256].lstrip(b"\xef\xbb\xbf \t\r\n")
    return "iso20022" if head.startswith(b"<") else "return-file"


def ingest_file(
    svc: Services, actor: Actor, channel: str, body: bytes, *, filename: str = ""
) -> dict[str, Any]:
    """An ISO 20022 file (pain.002, camt.05x) or a post-office return file: checked, stored
    once, applied. Returns what happened; refusals raise after being recorded."""
    kind = guess_kind(body)
    port = svc.channel(channel)
    try:
        msg = port.decode(kind, body, verify=True)
    except GatewayError as exc:
        record_rejection(
            svc, channel=channel, kind=kind, body=body, error=exc, headers={"file": filename}
        )
        raise
    try:
        received, summary = confirm.receive_and_apply(svc, _with_channel(msg, channel))
    except Conflict as exc:
        record_rejection(
            svc,
            channel=channel,
            kind=msg.kind,
            body=body,
            error=exc,
            source=msg.source,
            message_id=msg.message_id,
        )
        raise
    with svc.db.begin() as conn:
        audit.record(
            conn,
            actor,
            "payment.ingest_file",
            "inbox_message",
            received.inbox_id,
            purpose="confirm payments",
            detail={"kind": msg.kind, "items": len(msg.items), "replay": received.replay},
        )
    return {
        "inbox_id": received.inbox_id,
        "message_id": msg.message_id,
        "kind": msg.kind,
        "items": len(msg.items),
        "replay": received.replay,
        "results": summary.results,
        "warnings": list(msg.warnings),
    }


def _with_channel(msg: InboundMessage, channel: str) -> InboundMessage:
    return InboundMessage(
        msg.source,
        msg.message_id,
        msg.kind,
        msg.body,
        msg.items,
        {**msg.headers, "channel": channel},
        msg.warnings,
    )


MAX_APPLY_ATTEMPTS = 20  # then the message stays ``failed`` for a person to look at
GROUP_ITEMS = 2000  # items applied per transaction by the inbox job


def apply_pending(svc: Services, *, limit: int = 500, min_age_seconds: int = 0) -> dict[str, int]:
    """Apply inbox messages stored but not applied (crash recovery, deferred apply), many per
    transaction. Decoded again from the stored bytes without the time-window check: the
    signature was checked when they arrived. A group that fails is retried message by message,
    so one bad message is marked ``failed`` without holding back the others."""
    rows = _pending(svc, limit, min_age_seconds)
    counts = {"pending": len(rows), "applied": 0, "failed": 0, "items": 0}
    ready: list[confirm.Stored] = []
    for row in rows:
        try:
            ready.append(_decode_stored(svc, row))
        except GatewayError as exc:
            _mark_failed(svc, row.id, exc)
            counts["failed"] += 1
    for group in _groups(ready):
        try:
            summary = confirm.apply_messages(svc, group)
            counts["applied"] += len(group)
            counts["items"] += summary.applied + summary.duplicates
        except (GatewayError, SQLAlchemyError):
            for one in group:
                _apply_alone(svc, one, counts)
    return counts


def _pending(svc: Services, limit: int, min_age_seconds: int) -> list[Any]:
    cutoff = svc.clock() - dt.timedelta(seconds=min_age_seconds)
    with svc.db.read() as conn:
        return list(
            conn.execute(
                select(
                    inbox_message.c.id,
                    inbox_message.c.source,
                    inbox_message.c.kind,
                    inbox_message.c.headers,
                    inbox_message.c.body_enc,
                )
                .where(
                    inbox_message.c.status.in_(("received", "failed")),
                    inbox_message.c.received_at <= cutoff,
                    inbox_message.c.attempts < MAX_APPLY_ATTEMPTS,
                )
                .order_by(inbox_message.c.id)
                .limit(limit)
            ).all()
        )


def _decode_stored(svc: Services, row: Any) -> confirm.Stored:
    channel = (row.headers or {}).get("channel") or _channel_of(row.source)
    body = confirm.open_body(svc, row.body_enc)
    msg = svc.channel(channel).decode(row.kind, body, verify=False)
    return confirm.Stored(row.id, row.source, msg.items)


def _groups(messages: list[confirm.Stored]) -> list[list[confirm.Stored]]:
    groups: list[list[confirm.Stored]] = [[]]
    size = 0
    for m in messages:
        if groups[-1] and size + len(m.items) > GROUP_ITEMS:
            groups.append([])
            size = 0
        groups[-1].append(m)
        size += len(m.items)
    return [g for g in groups if g]


def _apply_alone(svc: Services, msg: confirm.Stored, counts: dict[str, int]) -> None:
    try:
        summary = confirm.apply_messages(svc, [msg])
    except GatewayError as exc:
        _mark_failed(svc, msg.inbox_id, exc)
        counts["failed"] += 1
        return
    except SQLAlchemyError as exc:  # the class only: the statement's values stay out of logs
        what = type(getattr(exc, "orig", None) or exc).__name__
        log.warning("inbox message not applied", extra={"inbox_id": msg.inbox_id, "error": what})
        _mark_failed(
            svc, msg.inbox_id, GatewayError(f"database error {what}", code="inbox.apply_error")
        )
        counts["failed"] += 1
        return
    counts["applied"] += 1
    counts["items"] += summary.applied + summary.duplicates


def _channel_of(source: str) -> str:
    return "postoffice" if source.startswith(("postoffice", "fake-postoffice")) else "bank"


def _mark_failed(svc: Services, inbox_id: int, exc: GatewayError) -> None:
    with svc.db.begin() as conn:
        conn.execute(
            update(inbox_message)
            .where(inbox_message.c.id == inbox_id, inbox_message.c.status != "applied")
            .values(
                status="failed",
                error_code=exc.code[:64],
                error_detail=exc.message,
                attempts=inbox_message.c.attempts + 1,
            )
        )
