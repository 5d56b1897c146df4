"""Receiving SPDCI ``notify`` messages (e.g. a CRVS death notification) from the registry.

1. The envelope's Ed25519 signature is checked against the sender's published key; only the
   senders and key ids of ``ANSINH_REGISTRY_NOTIFY_SENDERS`` are trusted.
2. The raw message is stored once in ``inbox_message`` (encrypted) before anything is applied:
   the same message id with the same content replays the stored answer, with other content it
   is refused (``rjct.message_id.duplicate``). A message refused for its signature or shape is
   kept too, under its content hash, with the reason.
3. Its death events are applied (``registry_events.apply_event``); a failure leaves the message
   ``failed`` with its code, and ``replay_pending`` applies it again later.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, update

from adapters import signing
from gateway.db.dialect import insert_ignore
from gateway.db.tables import inbox_message
from gateway.errors import Conflict, GatewayError, problem
from gateway.security.principal import Actor
from gateway.services import registry_events
from gateway.services.context import Services

INBOX_PURPOSE = b"inbox"
KIND = "registry.notify"
REJECTED_SOURCE = "registry-notify:rejected"


def trusted_senders(setting: str) -> dict[str, set[str]]:
    """``sender=key1|key2,sender2=key3`` → {sender: {key ids}}."""
    out: dict[str, set[str]] = {}
    for part in filter(None, (p.strip() for p in setting.split(","))):
        sender, _, keys = part.partition("=")
        out[sender.strip()] = {k.strip() for k in keys.split("|") if k.strip()}
    return out


def _keys(svc: Services) -> signing.KeyStore:
    path = svc.settings.security.certs_dir / "signing" / "keys.json"
    return signing.KeyStore.from_keys_json(path) if path.exists() else signing.KeyStore()


def authenticate(svc: Services, body: dict[str, Any]) -> str:
    """The verified sender id, or ``SignatureError`` (401)."""
    if not body.get("signature"):
        raise signing.SignatureError(
            "missing", "the message is not signed", "thông điệp không có chữ ký"
        )
    fields = signing.parse(str(body["signature"]))
    sender, _, rest = fields["kidId"].partition("|")
    key_id = rest.split("|")[0]
    allowed = trusted_senders(svc.settings.registry.notify_senders)
    if key_id not in allowed.get(sender, set()):
        raise signing.SignatureError(
            "sender",
            f"{sender} is not a trusted notifier",
            f"{sender} không được phép gửi thông báo",
        )
    signing.verify(body, _keys(svc), expected_sender=sender)
    return sender


def receive_notification(svc: Services, raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
        if not isinstance(body, dict) or not isinstance(body.get("header"), dict):
            raise ValueError
    except ValueError:
        _keep_rejected(svc, raw, "notify.not_json")
        raise problem(
            "body",
            "notify.format",
            "expected a {signature, header, message} JSON envelope",
            "cần phong bì JSON {signature, header, message}",
        ) from None
    try:
        sender = authenticate(svc, body)
    except GatewayError as exc:
        _keep_rejected(svc, raw, exc.code)
        raise
    message_id = str(body["header"].get("message_id") or "")
    if not message_id:
        _keep_rejected(svc, raw, "notify.message_id")
        raise problem(
            "header.message_id", "notify.message_id", "message_id is required", "thiếu message_id"
        )
    inbox_id, stored = _store(svc, sender, message_id, raw)
    if stored is not None:
        return stored
    return apply_stored(svc, inbox_id, body, sender)


def _store(
    svc: Services, sender: str, message_id: str, raw: bytes
) -> tuple[int, dict[str, Any] | None]:
    """(inbox id, stored answer when this exact message was already received)."""
    digest = registry_events.content_hash(raw)
    source = f"registry-notify:{sender}"
    with svc.db.begin() as conn:
        new_id = conn.execute(
            insert_ignore(conn, inbox_message)
            .values(
                source=source,
                message_id=message_id[:128],
                content_hash=digest,
                kind=KIND,
                body_enc=svc.vault.encrypt(raw.decode("utf-8", "replace"), INBOX_PURPOSE),
                headers={},
                status="received",
                attempts=0,
                received_at=svc.clock(),
            )
            .returning(inbox_message.c.id)
        ).scalar()
        if new_id is not None:
            return int(new_id), None
        old = conn.execute(
            select(inbox_message).where(
                inbox_message.c.source == source, inbox_message.c.message_id == message_id[:128]
            )
        ).one()
    if old.content_hash != digest:
        raise Conflict(
            f"notification {message_id} was already received with different content",
            f"thông báo {message_id} đã được nhận với nội dung khác",
            code="rjct.message_id.duplicate",
        )
    if old.status == "applied":
        return int(old.id), dict(old.response or {})
    return int(old.id), None


def apply_stored(svc: Services, inbox_id: int, body: dict[str, Any], sender: str) -> dict[str, Any]:
    actor = Actor.system(f"registry-notify:{sender}")
    now = svc.clock()
    events = registry_events.death_events(body.get("message") or {})
    total = registry_events.EventsSummary()
    try:
        with svc.db.begin() as conn:
            for reference, event in events:
                total.add(
                    registry_events.apply_event(
                        svc,
                        conn,
                        f"notify:{sender}",
                        reference,
                        event,
                        actor,
                        now,
                        inbox_id=inbox_id,
                    )
                )
            answer = {
                "ack_status": "ACK",
                "correlation_id": f"notify:{inbox_id}",
                "timestamp": now.isoformat(),
                "applied": total.applied,
                "suspended": total.suspended,
                "held": total.held,
            }
            conn.execute(
                update(inbox_message)
                .where(inbox_message.c.id == inbox_id)
                .values(
                    status="applied",
                    applied_at=now,
                    response=answer,
                    attempts=inbox_message.c.attempts + 1,
                )
            )
    except GatewayError as exc:
        with svc.db.begin() as conn:
            conn.execute(
                update(inbox_message)
                .where(inbox_message.c.id == inbox_id)
                .values(
                    status="failed",
                    error_code=exc.code,
                    error_detail=exc.message[:500],
                    attempts=inbox_message.c.attempts + 1,
                )
            )
        raise
    return answer


def replay_pending(svc: Services) -> int:
    """Apply again every stored notification that is not applied yet (after a failure)."""
    with svc.db.read() as conn:
        rows = conn.execute(
            select(inbox_message.c.id, inbox_message.c.source, inbox_message.c.body_enc).where(
                inbox_message.c.kind == KIND,
                inbox_message.c.status.in_(("received", "failed")),
                inbox_message.c.source != REJECTED_SOURCE,
            )
        ).all()
    for row in rows:
        body = json.loads(svc.vault.decrypt(row.body_enc, INBOX_PURPOSE))
        apply_stored(svc, int(row.id), body, row.source.split(":", 1)[1])
    return len(rows)


def _keep_rejected(svc: Services, raw: bytes, code: str) -> None:
    """Keep what was refused (under its hash: an unauthenticated id must not squat a real one)."""
    with svc.db.begin() as conn:
        conn.execute(
            insert_ignore(conn, inbox_message).values(
                source=REJECTED_SOURCE,
                message_id=registry_events.content_hash(raw),
                content_hash=registry_events.content_hash(raw),
                kind=KIND,
                body_enc=svc.vault.encrypt(
                    raw[:1_000_000].decode("utf-8", "replace"), INBOX_PURPOSE
                ),
                headers={},
                status="rejected",
                error_code=code[:64],
                attempts=0,
                received_at=svc.clock(),
            )
        )
