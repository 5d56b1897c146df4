"""Enrollments awaiting approval (with their open flags) and one enrollment's record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, exists, select

from gateway.db.tables import (
    admin_unit,
    enrollment,
    enrollment_transition,
    flag,
    person,
    programme,
    registry_verification,
)
from gateway.domain.states import EnrollmentState
from gateway.errors import NotFound
from gateway.security.principal import Actor
from gateway.security.vault import PiiVault, Purpose
from gateway.services import units
from gateway.services.workspace import mask_pid


@dataclass(frozen=True)
class PendingRow:
    id: int
    full_name: str
    birth_year: int | None
    unit_name: str
    programme: str
    period: str
    amount: int
    channel: str
    flags: tuple[str, ...]


def pending_approval(
    conn: Connection,
    actor: Actor,
    *,
    programme_id: int | None = None,
    period: str | None = None,
    flagged: bool | None = None,
    after_id: int = 0,
    limit: int = 50,
) -> tuple[list[PendingRow], int | None]:
    """Verified enrollments in scope, keyset-paged by id; ``flagged`` filters on open flags."""
    has_flag = exists().where(flag.c.enrollment_id == enrollment.c.id, flag.c.status == "open")
    query = (
        select(
            enrollment.c.id,
            enrollment.c.period,
            enrollment.c.amount,
            enrollment.c.channel,
            person.c.full_name,
            person.c.birth_year,
            admin_unit.c.name.label("unit_name"),
            programme.c.code.label("programme"),
        )
        .join(person, person.c.id == enrollment.c.person_id)
        .join(admin_unit, admin_unit.c.id == enrollment.c.unit_id)
        .join(programme, programme.c.id == enrollment.c.programme_id)
        .where(
            enrollment.c.state == EnrollmentState.VERIFIED,
            units.scope_filter(actor, enrollment.c.unit_id),
            enrollment.c.id > after_id,
        )
        .order_by(enrollment.c.id)
        .limit(limit + 1)
    )
    if programme_id is not None:
        query = query.where(enrollment.c.programme_id == programme_id)
    if period:
        query = query.where(enrollment.c.period == period)
    if flagged is True:
        query = query.where(has_flag)
    elif flagged is False:
        query = query.where(~has_flag)
    rows = conn.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    kinds = open_flags(conn, [r.id for r in rows])
    out = [
        PendingRow(
            r.id,
            r.full_name,
            r.birth_year,
            r.unit_name,
            r.programme,
            r.period,
            int(r.amount),
            r.channel,
            tuple(sorted(kinds.get(r.id, ()))),
        )
        for r in rows
    ]
    return out, (rows[-1].id if more and rows else None)


def open_flags(conn: Connection, ids: list[int]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    if not ids:
        return out
    for eid, kind in conn.execute(
        select(flag.c.enrollment_id, flag.c.kind).where(
            flag.c.enrollment_id.in_(ids), flag.c.status == "open"
        )
    ):
        out.setdefault(eid, set()).add(kind)
    return out


@dataclass
class EnrollmentView:
    row: Any
    personal_id: str
    flags: list[Any] = field(default_factory=list)
    transitions: list[Any] = field(default_factory=list)
    registry: Any = None


def enrollment_view(
    conn: Connection, vault: PiiVault, actor: Actor, enrollment_id: int
) -> EnrollmentView:
    row = conn.execute(
        select(
            enrollment,
            person.c.full_name,
            person.c.pid_enc,
            person.c.birth_year,
            person.c.birth_month,
            person.c.birth_day,
            person.c.gender,
            admin_unit.c.name.label("unit_name"),
            programme.c.code.label("programme"),
            programme.c.name_vi,
            programme.c.name_en,
        )
        .join(person, person.c.id == enrollment.c.person_id)
        .join(admin_unit, admin_unit.c.id == enrollment.c.unit_id)
        .join(programme, programme.c.id == enrollment.c.programme_id)
        .where(enrollment.c.id == enrollment_id)
    ).first()
    if row is None or not units.in_scope(conn, actor, row.unit_id):
        raise NotFound(f"no enrollment {enrollment_id}", f"không có hồ sơ {enrollment_id}")
    pid = vault.decrypt(row.pid_enc, Purpose.PID) if row.pid_enc else None
    view = EnrollmentView(row, mask_pid(pid))
    view.flags = list(
        conn.execute(select(flag).where(flag.c.enrollment_id == enrollment_id).order_by(flag.c.id))
    )
    view.transitions = list(
        conn.execute(
            select(enrollment_transition)
            .where(enrollment_transition.c.enrollment_id == enrollment_id)
            .order_by(enrollment_transition.c.id)
        )
    )
    view.registry = conn.execute(
        select(registry_verification)
        .where(registry_verification.c.enrollment_id == enrollment_id)
        .order_by(registry_verification.c.id.desc())
        .limit(1)
    ).first()
    return view
