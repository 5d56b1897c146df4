"""What a resolved legacy CMND number does to its enrollment: re-attach it to the person who
already holds the resolved personal ID, or flag it as listed twice."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, select, update

from gateway.db.dialect import insert_ignore
from gateway.db.tables import enrollment, flag, person


def move_enrollment(
    conn: Connection, enrollment_id: int, from_person: int, to_person: int, now: dt.datetime
) -> bool:
    """Re-attach an enrollment to the person its resolved ID belongs to, unless it would clash."""
    row = conn.execute(
        select(enrollment.c.programme_id, enrollment.c.period).where(
            enrollment.c.id == enrollment_id
        )
    ).one()
    clash = conn.execute(
        select(enrollment.c.id).where(
            enrollment.c.programme_id == row.programme_id,
            enrollment.c.period == row.period,
            enrollment.c.person_id == to_person,
        )
    ).first()
    if clash is not None:
        return False
    conn.execute(
        update(enrollment)
        .where(enrollment.c.id == enrollment_id)
        .values(person_id=to_person, updated_at=now)
    )
    conn.execute(
        update(person)
        .where(person.c.id == from_person)
        .values(merged_into_id=to_person, updated_at=now)
    )
    return True


def flag_enrollment(
    conn: Connection, enrollment_id: int, kind: str, detail: dict[str, object], now: dt.datetime
) -> None:
    conn.execute(
        insert_ignore(conn, flag).values(
            enrollment_id=enrollment_id,
            kind=kind,
            detail_key="",
            detail=detail,
            status="open",
            created_at=now,
        )
    )
