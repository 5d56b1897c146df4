"""The tick ledger: a settled payment ticks the person for its exclusion group and period, and the
tick is published to the registry through the outbox (retried until acknowledged)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection, select, update

from gateway.db.dialect import bulk_insert
from gateway.db.tables import enrollment, programme, tick
from gateway.services import outbox

TICK_TOPIC = "registry.tick"
UNTICK_TOPIC = "registry.untick"


def tick_paid(conn: Connection, enrollment_id: int, payment_ref: str, now: dt.datetime) -> bool:
    """Tick the enrollment's person; False when an active tick already holds the slot."""
    return tick_paid_many(conn, [(enrollment_id, payment_ref)], now) == 1


def tick_paid_many(conn: Connection, settled: Sequence[tuple[int, str]], now: dt.datetime) -> int:
    """Tick the people of many settled payments ``(enrollment_id, payment_ref)`` in a few
    statements; a slot already held by an active tick is left alone. Returns ticks made."""
    if not settled:
        return 0
    refs = dict(settled)
    rows = conn.execute(
        select(
            enrollment.c.id,
            enrollment.c.person_id,
            enrollment.c.period,
            enrollment.c.unit_id,
            programme.c.code,
            programme.c.exclusion_group,
        )
        .join(programme, programme.c.id == enrollment.c.programme_id)
        .where(enrollment.c.id.in_(list(refs)))
        .order_by(enrollment.c.id)
    ).all()
    values = [
        {
            "person_id": r.person_id,
            "exclusion_group": r.exclusion_group or r.code,
            "period": r.period,
            "unit_id": r.unit_id,
            "programme_code": r.code,
            "payment_ref": refs[r.id],
            "source": "local",
            "state": "active",
            "created_at": now,
        }
        for r in rows
    ]
    made = bulk_insert(
        conn,
        tick,
        values,
        returning=(
            tick.c.person_id,
            tick.c.exclusion_group,
            tick.c.period,
            tick.c.unit_id,
            tick.c.programme_code,
            tick.c.payment_ref,
        ),
        ignore_conflicts=True,
    )
    outbox.enqueue_many(
        conn,
        TICK_TOPIC,
        [
            (
                f"{t.person_id}:{t.exclusion_group}:{t.period}",
                {
                    "person_id": t.person_id,
                    "exclusion_group": t.exclusion_group,
                    "period": t.period,
                    "unit_id": t.unit_id,
                    "programme": t.programme_code,
                    "payment_ref": t.payment_ref,
                },
            )
            for t in made
        ],
        now,
    )
    return len(made)


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
