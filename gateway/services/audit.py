"""Append-only, hash-chained audit trail.

Each event stores the previous event's hash; its own hash is SHA-256 over the previous hash and
a canonical JSON of its fields. ``prev_hash`` is unique in the table, so the chain cannot fork
even under concurrent writers (PostgreSQL additionally serialises appends with a transaction
advisory lock). Details never hold personal IDs in clear: callers pass masked values.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, text

from gateway.db.tables import audit_event
from gateway.security.principal import Actor

GENESIS = "0" * 64
_AUDIT_LOCK = 0x616E73696E68  # "ansinh": pg_advisory_xact_lock key for appends


def _stamp(at: dt.datetime) -> str:
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC).replace(tzinfo=None)
    return at.isoformat(timespec="microseconds")


def event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def _fields(row: Any) -> dict[str, Any]:
    return {
        "at": _stamp(row.at),
        "actor": row.actor,
        "action": row.action,
        "entity": row.entity,
        "entity_id": row.entity_id,
        "purpose": row.purpose,
        "detail": row.detail,
    }


def record(
    conn: Connection,
    actor: Actor | str,
    action: str,
    entity: str,
    entity_id: object = None,
    *,
    purpose: str,
    detail: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> str:
    """Append one event inside the caller's transaction; returns its hash."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _AUDIT_LOCK})
    prev = conn.execute(
        select(audit_event.c.hash).order_by(audit_event.c.id.desc()).limit(1)
    ).scalar()
    prev_hash = prev or GENESIS
    at = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    values: dict[str, Any] = {
        "at": at,
        "actor": actor.label() if isinstance(actor, Actor) else actor,
        "action": action,
        "entity": entity,
        "entity_id": None if entity_id is None else str(entity_id),
        "purpose": purpose,
        "detail": detail or {},
    }
    digest = event_hash(prev_hash, _fields(_Row(**values)))
    conn.execute(insert(audit_event).values(prev_hash=prev_hash, hash=digest, **values))
    return digest


@dataclass
class _Row:
    at: dt.datetime
    actor: str
    action: str
    entity: str
    entity_id: str | None
    purpose: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class ChainReport:
    events: int
    ok: bool
    broken_at: int | None = None  # id of the first event that does not verify
    reason: str | None = None


def verify_chain(conn: Connection, batch: int = 5000) -> ChainReport:
    """Walk the chain in id order; name the first event whose link or hash is wrong."""
    expected_prev = GENESIS
    count = 0
    for row in _iter_events(conn, batch):
        count += 1
        if row.prev_hash != expected_prev:
            return ChainReport(count, False, row.id, "prev_hash does not match the previous event")
        if event_hash(row.prev_hash, _fields(row)) != row.hash:
            return ChainReport(count, False, row.id, "content does not match its hash")
        expected_prev = row.hash
    return ChainReport(count, True)


def _iter_events(conn: Connection, batch: int) -> Iterator[Any]:
    last_id = 0
    while True:
        rows = conn.execute(
            select(audit_event)
            .where(audit_event.c.id > last_id)
            .order_by(audit_event.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id
