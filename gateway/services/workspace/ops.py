"""Job runs and the outbox's dead letters, for operators; retrying a dead letter is audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from gateway.db.tables import job_run, outbox_message
from gateway.domain.states import Role
from gateway.errors import Forbidden, InvalidState
from gateway.security.principal import Actor
from gateway.services import audit, outbox
from gateway.services.context import Services

OPERATORS = frozenset({Role.MINISTRY, Role.AUDITOR})
RETRIERS = frozenset({Role.MINISTRY})


def require_operator(actor: Actor, *, retry: bool = False) -> None:
    allowed = RETRIERS if retry else OPERATORS
    if not actor.is_system and actor.role not in allowed:
        raise Forbidden(
            "operations pages are for national operators",
            "trang vận hành chỉ dành cho cán bộ vận hành cấp trung ương",
            code="role.forbidden",
        )


def job_runs(
    conn: Connection,
    actor: Actor,
    *,
    job: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> tuple[list[Any], int | None]:
    require_operator(actor)
    query = select(job_run).order_by(job_run.c.id.desc()).limit(limit + 1)
    if job:
        query = query.where(job_run.c.job == job)
    if before_id is not None:
        query = query.where(job_run.c.id < before_id)
    rows = list(conn.execute(query).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


def dead_letters(
    conn: Connection, actor: Actor, *, after_id: int = 0, limit: int = 50
) -> tuple[list[Any], int | None]:
    require_operator(actor)
    rows = list(
        conn.execute(
            select(
                outbox_message.c.id,
                outbox_message.c.topic,
                outbox_message.c.dedup_key,
                outbox_message.c.attempts,
                outbox_message.c.last_error,
                outbox_message.c.created_at,
                outbox_message.c.next_attempt_at,
            )
            .where(outbox_message.c.status == "dead", outbox_message.c.id > after_id)
            .order_by(outbox_message.c.id)
            .limit(limit + 1)
        ).all()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


def retry_dead_letter(svc: Services, actor: Actor, message_id: int) -> None:
    """Put one dead letter back in the queue (``outbox.retry_dead``), with an audit event."""
    require_operator(actor, retry=True)
    with svc.db.begin() as conn:
        topic = conn.execute(
            select(outbox_message.c.topic).where(outbox_message.c.id == message_id)
        ).scalar()
        if not outbox.retry_dead(conn, message_id, svc.clock()):
            raise InvalidState(
                f"message {message_id} is not a dead letter",
                f"thông điệp {message_id} không nằm trong hàng thư chết",
                code="outbox.not_dead",
            )
        audit.record(
            conn,
            actor,
            "outbox.retry",
            "outbox_message",
            message_id,
            purpose="operations",
            detail={"topic": topic},
        )
