"""Status back to the province: per person, what became of each row of a list — verified,
approved, paid, rejected (and why), or still held in quarantine — as a file or pushed through
the outbox to the province's REST API (topic ``province.status``, retried until acknowledged)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, func, select

from adapters.welfare.port import StatusReport
from gateway.db.tables import (
    enrollment,
    enrollment_transition,
    flag,
    import_batch,
    payment_instruction,
    quarantine_row,
)
from gateway.security.principal import Actor
from gateway.services import audit, outbox
from gateway.services.context import Services

TOPIC = "province.status"
PUSH_CHUNK = 500


def _imports(conn: Connection, source_key: str) -> list[int]:
    return list(
        conn.execute(
            select(import_batch.c.id).where(
                import_batch.c.source_key == source_key,
                import_batch.c.status.in_(("done", "superseded")),
            )
        ).scalars()
    )


def statuses(conn: Connection, source_key: str) -> Iterator[StatusReport]:
    """Every row the province sent under ``source_key`` (all its versions), latest word first."""
    imports = _imports(conn, source_key)
    if not imports:
        return
    last_reason = (
        select(enrollment_transition.c.reason)
        .where(enrollment_transition.c.enrollment_id == enrollment.c.id)
        .order_by(enrollment_transition.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    open_flags = (
        select(func.count())
        .where(flag.c.enrollment_id == enrollment.c.id, flag.c.status == "open")
        .scalar_subquery()
    )
    paid_at = (
        select(func.max(payment_instruction.c.state_changed_at))
        .where(
            payment_instruction.c.enrollment_id == enrollment.c.id,
            payment_instruction.c.state == "settled",
        )
        .scalar_subquery()
    )
    rows = conn.execute(
        select(
            enrollment.c.source_ref,
            enrollment.c.source_row,
            enrollment.c.state,
            enrollment.c.amount,
            last_reason.label("reason"),
            open_flags.label("flags"),
            paid_at.label("paid_at"),
        )
        .where(enrollment.c.import_id.in_(imports))
        .order_by(enrollment.c.id)
    )
    for r in rows:
        code = "flagged" if r.flags and r.state in ("proposed", "verified") else None
        yield StatusReport(
            source_ref=r.source_ref or f"row {r.source_row}",
            state=r.state,
            reason_code=code,
            reason=r.reason,
            amount=int(r.amount),
            paid_at=r.paid_at.isoformat() if r.paid_at else None,
        )
    held = conn.execute(
        select(quarantine_row.c.source_ref, quarantine_row.c.row_number, quarantine_row.c.problems)
        .where(quarantine_row.c.import_id.in_(imports), quarantine_row.c.status == "open")
        .order_by(quarantine_row.c.id)
    )
    for q in held:
        first = q.problems[0] if q.problems else {}
        yield StatusReport(
            source_ref=q.source_ref or f"row {q.row_number}",
            state="quarantined",
            reason_code=first.get("rule"),
            reason=first.get("message_vi"),
            amount=None,
            paid_at=None,
        )


def push(svc: Services, actor: Actor, source_key: str) -> int:
    """Queue the list's statuses for the province (outbox, in chunks); returns messages queued.
    The same statuses queued twice are sent once (dedup on their digest)."""
    now = svc.clock()
    queued = 0
    with svc.db.begin() as conn:
        chunk: list[dict[str, Any]] = []
        for report in statuses(conn, source_key):
            chunk.append(asdict(report))
            if len(chunk) == PUSH_CHUNK:
                queued += _enqueue(conn, source_key, chunk, now)
                chunk = []
        if chunk:
            queued += _enqueue(conn, source_key, chunk, now)
        audit.record(
            conn,
            actor,
            "province.status_push",
            "import_batch",
            None,
            purpose="report beneficiary status to the province",
            detail={"source": source_key, "messages": queued},
        )
    return queued


def _enqueue(conn: Connection, source_key: str, chunk: list[dict[str, Any]], now: Any) -> int:
    digest = hashlib.sha256(json.dumps(chunk, sort_keys=True).encode()).hexdigest()[:32]
    payload = {"list_key": source_key, "statuses": chunk}
    outbox.enqueue(conn, TOPIC, f"{source_key[:120]}:{digest}", payload, now)
    return 1


def deliver(svc: Services, payload: dict[str, Any]) -> None:
    """Outbox handler: push one chunk to the province's system (REST, or the files outbox)."""
    reports = [StatusReport(**s) for s in payload["statuses"]]
    svc.welfare.push_statuses(str(payload["list_key"]), reports)
