"""The mismatch-case queue (filters, sorting, keyset paging) and one case's evidence.

Reads ``mismatch_case`` directly. When ``gateway.services.cases`` (reconciliation area) lands,
``list_cases``/``get_case`` there can replace these two functions behind the same pages.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from gateway.db.tables import (
    admin_unit,
    case_action,
    confirmation,
    enrollment,
    import_batch,
    mismatch_case,
    payment_instruction,
    person,
    programme,
    registry_verification,
    tick,
)
from gateway.errors import NotFound
from gateway.security.principal import Actor
from gateway.security.vault import PiiVault, Purpose
from gateway.services import units
from gateway.services.workspace import aware, decode_cursor, encode_cursor, mask_pid

SORTS = ("oldest", "newest")


@dataclass(frozen=True)
class QueueFilter:
    type: str | None = None
    unit_id: int | None = None
    programme_id: int | None = None
    status: str = "open"
    min_age_days: int | None = None
    max_age_days: int | None = None
    sort: str = "oldest"


@dataclass(frozen=True)
class QueueRow:
    id: int
    type: str
    status: str
    unit_name: str
    programme: str
    period: str | None
    amount: int | None
    opened_at: dt.datetime
    age_days: int


@dataclass
class QueuePage:
    rows: list[QueueRow]
    next_cursor: str | None


def queue_page(
    conn: Connection,
    actor: Actor,
    filters: QueueFilter,
    *,
    now: dt.datetime,
    after: str | None = None,
    limit: int = 50,
) -> QueuePage:
    """One page of cases in the actor's scope, keyset-paged on (opened_at, id)."""
    c = mismatch_case.c
    if filters.unit_id is not None:
        units.require_scope(conn, actor, filters.unit_id)
    where = case_conditions(
        conn,
        actor,
        now=now,
        status=filters.status,
        type=filters.type,
        unit_id=filters.unit_id,
        min_age_days=filters.min_age_days,
        max_age_days=filters.max_age_days,
    )
    if filters.programme_id is not None:
        where.append(c.programme_id == filters.programme_id)
    newest = filters.sort == "newest"
    where += keyset_after(after, newest=newest)
    order = (c.opened_at.desc(), c.id.desc()) if newest else (c.opened_at, c.id)
    rows = conn.execute(
        select(c.id, c.type, c.status, c.unit_id, c.programme_id, c.period, c.evidence, c.opened_at)
        .where(*where)
        .order_by(*order)
        .limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    names = _names(conn, {r.unit_id for r in rows}, {r.programme_id for r in rows})
    out = [
        QueueRow(
            r.id,
            r.type,
            r.status,
            names[0].get(r.unit_id, ""),
            names[1].get(r.programme_id, ""),
            r.period,
            (r.evidence or {}).get("amount"),
            aware(r.opened_at) or now,
            max(0, (now - (aware(r.opened_at) or now)).days),
        )
        for r in rows
    ]
    nxt = encode_cursor(rows[-1].opened_at, rows[-1].id) if more and rows else None
    return QueuePage(out, nxt)


def case_conditions(
    conn: Connection,
    actor: Actor,
    *,
    now: dt.datetime,
    status: str | None = None,
    type: str | None = None,
    unit_id: int | None = None,
    min_age_days: int | None = None,
    max_age_days: int | None = None,
) -> list[Any]:
    """The WHERE clauses every case listing shares (the web queue here, ``cases.list_cases`` for
    the CLI and API): the actor's scope, status, type, a unit and everything below it, age in
    days. The caller has checked that ``unit_id`` is in scope, and answers in its own way."""
    c = mismatch_case.c
    where: list[Any] = [units.scope_filter(actor, c.unit_id)]
    if status:
        where.append(c.status == status)
    if type:
        where.append(c.type == type)
    if unit_id is not None:
        unit = units.get(conn, unit_id)
        where.append(
            c.unit_id.in_(
                select(admin_unit.c.id).where(
                    admin_unit.c.scheme == unit.scheme,
                    admin_unit.c.path.startswith(unit.path, autoescape=True),
                )
            )
        )
    if min_age_days is not None:
        where.append(c.opened_at <= now - dt.timedelta(days=min_age_days))
    if max_age_days is not None:
        where.append(c.opened_at >= now - dt.timedelta(days=max_age_days))
    return where


def keyset_after(after: str | None, *, newest: bool = False) -> list[Any]:
    """The clause that starts a page after the cursor's (opened_at, id), in either order."""
    cursor = decode_cursor(after, 2)
    if cursor is None:
        return []
    c = mismatch_case.c
    at, last_id = dt.datetime.fromisoformat(cursor[0]), int(cursor[1])
    if newest:
        return [or_(c.opened_at < at, and_(c.opened_at == at, c.id < last_id))]
    return [or_(c.opened_at > at, and_(c.opened_at == at, c.id > last_id))]


def _names(
    conn: Connection, unit_ids: set[Any], programme_ids: set[Any]
) -> tuple[dict[Any, str], dict[Any, str]]:
    unit_ids.discard(None)
    programme_ids.discard(None)
    unit_names = dict(
        conn.execute(
            select(admin_unit.c.id, admin_unit.c.name).where(admin_unit.c.id.in_(unit_ids))
        ).all()
    )
    codes = dict(
        conn.execute(
            select(programme.c.id, programme.c.code).where(programme.c.id.in_(programme_ids))
        ).all()
    )
    return unit_names, codes


# -- one case -------------------------------------------------------------------------------


@dataclass
class CaseView:
    case: Any
    unit_name: str = ""
    programme: Any = None
    listed: dict[str, Any] | None = None  # the provincial list row as imported
    registry: Any = None  # latest registry answer
    instructions: list[dict[str, Any]] = field(default_factory=list)
    ticks: list[Any] = field(default_factory=list)  # ticks elsewhere, same group and period
    actions: list[Any] = field(default_factory=list)


def get_case_view(conn: Connection, vault: PiiVault, actor: Actor, case_id: int) -> CaseView:
    """The evidence side by side; a case outside the actor's scope does not exist for them."""
    row = conn.execute(select(mismatch_case).where(mismatch_case.c.id == case_id)).first()
    visible = row is not None and (
        units.in_scope(conn, actor, row.unit_id)
        if row.unit_id is not None
        else actor.is_national or actor.is_system
    )
    if row is None or not visible:
        raise NotFound(f"no case {case_id}", f"không có vụ việc {case_id}")
    view = CaseView(row)
    if row.unit_id is not None:
        view.unit_name = units.get(conn, row.unit_id).name
    if row.programme_id is not None:
        view.programme = conn.execute(
            select(programme).where(programme.c.id == row.programme_id)
        ).first()
    if row.enrollment_id is not None:
        view.listed = _listed(conn, vault, row.enrollment_id)
        view.registry = conn.execute(
            select(registry_verification)
            .where(registry_verification.c.enrollment_id == row.enrollment_id)
            .order_by(registry_verification.c.id.desc())
            .limit(1)
        ).first()
        view.instructions = _instructions(conn, row.enrollment_id)
    elif row.instruction_id is not None:
        view.instructions = _instructions(conn, None, row.instruction_id)
    if row.person_id is not None and view.programme is not None and row.period:
        view.ticks = _ticks_elsewhere(conn, row.person_id, view.programme, row.period, row.unit_id)
    view.actions = list(
        conn.execute(
            select(case_action).where(case_action.c.case_id == case_id).order_by(case_action.c.id)
        )
    )
    return view


def _listed(conn: Connection, vault: PiiVault, enrollment_id: int) -> dict[str, Any] | None:
    r = conn.execute(
        select(
            enrollment,
            person.c.full_name,
            person.c.pid_enc,
            person.c.birth_year,
            person.c.birth_month,
            person.c.birth_day,
            person.c.gender,
            person.c.vital_status,
            import_batch.c.source_key,
            import_batch.c.filename,
            admin_unit.c.name.label("unit_name"),
            admin_unit.c.code.label("unit_code"),
        )
        .join(person, person.c.id == enrollment.c.person_id)
        .join(admin_unit, admin_unit.c.id == enrollment.c.unit_id)
        .outerjoin(import_batch, import_batch.c.id == enrollment.c.import_id)
        .where(enrollment.c.id == enrollment_id)
    ).first()
    if r is None:
        return None
    pid = vault.decrypt(r.pid_enc, Purpose.PID) if r.pid_enc else None
    birth = "/".join(str(p) for p in (r.birth_day, r.birth_month, r.birth_year) if p is not None)
    return {
        "enrollment_id": r.id,
        "state": r.state,
        "full_name": r.full_name,
        "personal_id": mask_pid(pid),
        "birth": birth,
        "gender": r.gender,
        "vital_status": r.vital_status,
        "unit": f"{r.unit_name} ({r.unit_code})",
        "amount": r.amount,
        "channel": r.channel,
        "period": r.period,
        "source": r.filename or r.source_key,
        "source_row": r.source_row,
        "source_ref": r.source_ref,
    }


def _instructions(
    conn: Connection, enrollment_id: int | None, instruction_id: int | None = None
) -> list[dict[str, Any]]:
    cond = (
        payment_instruction.c.enrollment_id == enrollment_id
        if enrollment_id is not None
        else payment_instruction.c.id == instruction_id
    )
    out = []
    for instr in conn.execute(
        select(payment_instruction).where(cond).order_by(payment_instruction.c.attempt)
    ):
        confirmations = list(
            conn.execute(
                select(
                    confirmation.c.source,
                    confirmation.c.outcome,
                    confirmation.c.amount,
                    confirmation.c.reason_code,
                    confirmation.c.raw_status,
                    confirmation.c.evidence_ref,
                    confirmation.c.apply_result,
                    confirmation.c.received_at,
                )
                .where(confirmation.c.instruction_id == instr.id)
                .order_by(confirmation.c.id)
            )
        )
        out.append({"instruction": instr, "confirmations": confirmations})
    return out


def _ticks_elsewhere(
    conn: Connection, person_id: int, prog: Any, period: str, unit_id: int | None
) -> list[Any]:
    if not prog.exclusion_group:
        return []
    return list(
        conn.execute(
            select(tick, admin_unit.c.name.label("unit_name"))
            .outerjoin(admin_unit, admin_unit.c.id == tick.c.unit_id)
            .where(
                tick.c.person_id == person_id,
                tick.c.exclusion_group == prog.exclusion_group,
                tick.c.period == period,
                or_(tick.c.programme_code != prog.code, tick.c.unit_id != unit_id),
            )
        )
    )
