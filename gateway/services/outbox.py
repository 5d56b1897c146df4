"""Outbox: messages to other systems are written in the same transaction as the change that
causes them, then delivered by a dispatcher with exponential backoff and jitter; a message that
keeps failing becomes a dead letter operators can see and retry."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select, update

from gateway.db.dialect import bulk_insert, insert_ignore
from gateway.db.tables import outbox_message
from gateway.errors import GatewayError
from gateway.services.context import Services

MAX_ATTEMPTS = 8
BASE_DELAY = 5.0
MAX_DELAY = 3600.0

Handler = Callable[[Services, dict[str, Any]], None]


def enqueue(
    conn: Connection, topic: str, dedup_key: str, payload: dict[str, Any], now: dt.datetime
) -> None:
    """Once per (topic, dedup_key): the same event enqueued twice is delivered once."""
    conn.execute(
        insert_ignore(conn, outbox_message).values(
            topic=topic,
            dedup_key=dedup_key,
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )


def enqueue_many(
    conn: Connection,
    topic: str,
    events: Sequence[tuple[str, dict[str, Any]]],
    now: dt.datetime,
) -> None:
    """``enqueue`` for many ``(dedup_key, payload)`` events in one statement."""
    if not events:
        return
    bulk_insert(
        conn,
        outbox_message,
        [
            {
                "topic": topic,
                "dedup_key": key,
                "payload": payload,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for key, payload in events
        ],
        ignore_conflicts=True,
    )


def backoff_seconds(attempts: int, rng: random.Random | None = None) -> float:
    """Capped exponential backoff with full jitter (kept apart so tests can pin it)."""
    ceiling = min(MAX_DELAY, BASE_DELAY * 2 ** max(0, attempts - 1))
    return (rng or random).uniform(ceiling / 2, ceiling)


@dataclass
class DispatchSummary:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    errors: dict[str, int] = field(default_factory=dict)


def dispatch(svc: Services, handlers: dict[str, Handler], *, limit: int = 500) -> DispatchSummary:
    summary = DispatchSummary()
    now = svc.clock()
    with svc.db.read() as conn:
        due = conn.execute(
            select(outbox_message)
            .where(
                outbox_message.c.status == "pending",
                outbox_message.c.next_attempt_at <= now,
                outbox_message.c.topic.in_(list(handlers)),
            )
            .order_by(outbox_message.c.id)
            .limit(limit)
        ).all()
    for msg in due:
        try:
            handlers[msg.topic](svc, dict(msg.payload))
        except GatewayError as exc:
            summary.errors[exc.code] = summary.errors.get(exc.code, 0) + 1
            _failed(svc, msg, exc, summary)
            continue
        with svc.db.begin() as conn:
            conn.execute(
                update(outbox_message)
                .where(outbox_message.c.id == msg.id, outbox_message.c.status == "pending")
                .values(status="sent", sent_at=svc.clock(), attempts=msg.attempts + 1)
            )
        summary.sent += 1
    return summary


def _failed(svc: Services, msg: Any, exc: GatewayError, summary: DispatchSummary) -> None:
    attempts = msg.attempts + 1
    dead = attempts >= MAX_ATTEMPTS or not exc.retryable
    with svc.db.begin() as conn:
        conn.execute(
            update(outbox_message)
            .where(outbox_message.c.id == msg.id)
            .values(
                attempts=attempts,
                last_error=f"{exc.code}: {exc.message}"[:500],
                status="dead" if dead else "pending",
                next_attempt_at=svc.clock() + dt.timedelta(seconds=backoff_seconds(attempts)),
            )
        )
    if dead:
        summary.dead += 1
    else:
        summary.retried += 1


def retry_dead(conn: Connection, message_id: int, now: dt.datetime) -> bool:
    """An operator puts a dead letter back in the queue."""
    return bool(
        conn.execute(
            update(outbox_message)
            .where(outbox_message.c.id == message_id, outbox_message.c.status == "dead")
            .values(status="pending", attempts=0, next_attempt_at=now)
        ).rowcount
    )
