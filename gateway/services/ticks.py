"""The tick ledger: a settled payment ticks the person for its exclusion group and period, and the
tick is published to the registry through the outbox (retried until acknowledged)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, select, update

from gateway.db.dialect import insert_ignore
from gateway.db.tables import enrollment, programme, tick
from gateway.services import outbox

TICK_TOPIC = "registry.tick"
UNTICK_TOPIC = "registry.untick"


def tick_paid(conn: Connection, enrollment_id: int, payment_ref: str, now: dt.datetime) -> bool:
    """Tick the enrollment's person; False when an active tick already holds the slot."""
    row = conn.execute(
        select(
            enrollment.c.person_id,
            enrollment.c.period,
            enrollment.c.unit_id,
            programme.c.code,
            programme.c.exclusion_group,
        )
        .join(programme, programme.c.id == enrollment.c.programme_id)
        .where(enrollment.c.id == enrollment_id)
    ).one()
    group = row.exclusion_group or row.code
    inserted = conn.execute(
        insert_ignore(conn, tick).values(
            person_id=row.person_id,
            exclusion_group=group,
            period=row.period,
            unit_id=row.unit_id,
            programme_code=row.code,
            payment_ref=payment_ref,
            source="local",
            state="active",
            created_at=now,
        )
    ).rowcount
    if inserted:
        outbox.enqueue(
            conn,
            TICK_TOPIC,
            f"{row.person_id}:{group}:{row.period}",
            {
                "person_id": row.person_id,
                "exclusion_group": group,
                "period": row.period,
                "unit_id": row.unit_id,
                "programme": row.code,
                "payment_ref": payment_ref,
            },
            now,
        )
    return bool(inserted)


def withdraw(conn: Connection, payment_ref: str, reason: str, now: dt.datetime) -> int:
    rows = conn.execute(
        select(tick).where(tick.c.payment_ref == payment_ref, tick.c.state == "active")
    ).all()
    for r in rows:
        conn.execute(
            update(tick)
            .where(tick.c.id == r.id)
            .values(state="withdrawn", withdrawn_at=now, withdraw_reason=reason)
        )
        outbox.enqueue(
            conn,
            UNTICK_TOPIC,
            f"{r.person_id}:{r.exclusion_group}:{r.period}:{r.id}",
            {
                "person_id": r.person_id,
                "exclusion_group": r.exclusion_group,
                "period": r.period,
                "unit_id": r.unit_id,
                "programme": r.programme_code,
                "payment_ref": payment_ref,
                "reason": reason,
            },
            now,
        )
    return len(rows)
