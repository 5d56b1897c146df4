"""The set-based statements behind the statistics snapshot (see gateway.services.stats).

Everything here is ``INSERT … SELECT … GROUP BY`` run inside the database: the commune rows
come from one pass over the enrollments, every other row is a GROUP BY over rows already in
the snapshot table (programme/period totals, then district, province and national roll-ups).
No Python loop touches an enrollment, so the cost is a few scans whatever the row count.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Connection,
    Date,
    DateTime,
    Integer,
    String,
    Table,
    and_,
    case,
    func,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import aliased

from gateway.db.tables import (
    admin_unit,
    enrollment,
    mismatch_case,
    payee_account,
    payment_instruction,
    person,
    registry_verification,
    stats_snapshot,
    stats_snapshot_case,
)
from gateway.db.tables.stats import ALL_PERIODS, ALL_PROGRAMMES, MEASURES, NATIONAL, UNASSIGNED
from gateway.domain.states import Channel, EnrollmentState, InstructionState
from gateway.refdata.admin_units import LEGACY

E = EnrollmentState
DIMENSIONS = ("day", "as_of", "level", "scheme", "unit_id", "parent_id", "programme_id", "period")
UNMATCHED = ("mismatch", "not_found")
UNKNOWN_PERIOD = "?"  # open cases that name no period: counted only in the all-periods rows


def _n(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _amount(condition: Any) -> Any:
    return func.sum(case((condition, enrollment.c.amount), else_=0))


def _constants(day: dt.date, as_of: dt.datetime) -> list[Any]:
    return [literal(day, Date).label("day"), literal(as_of, DateTime(timezone=True)).label("as_of")]


def insert_communes(conn: Connection, day: dt.date, as_of: dt.datetime) -> None:
    """One row per (unit, programme, period) holding enrollments: the base of every roll-up."""
    e, state = enrollment, enrollment.c.state
    settled = aliased(payment_instruction, name="settled")
    last = aliased(registry_verification, name="last_check")
    rv = registry_verification
    history = (
        select(
            rv.c.person_id,
            func.max(rv.c.id).label("last_id"),
            func.max(case((rv.c.outcome.in_(UNMATCHED), 1), else_=0)).label("had_unmatched"),
        )
        .group_by(rv.c.person_id)
        .subquery("history")
    )
    entitled = state.in_((E.APPROVED, E.PAID))
    paid = state == E.PAID
    paid_by = func.coalesce(settled.c.channel, e.c.channel)
    outcome = func.coalesce(last.c.outcome, "none")  # never checked: no NULL logic below
    deceased = or_(person.c.vital_status == "deceased", outcome == "deceased")
    matched = and_(~deceased, outcome == "match")
    unmatched = and_(~deceased, outcome.in_(UNMATCHED))
    figures = {
        "records": func.count(),
        "proposed": _n(state == E.PROPOSED),
        "verified": _n(state == E.VERIFIED),
        "rejected": _n(state == E.REJECTED),
        "cancelled": _n(state == E.CANCELLED),
        "suspended": _n(state == E.SUSPENDED),
        "approved": _n(entitled),
        "approved_amount": _amount(entitled),
        "paid": _n(paid),
        "paid_amount": _amount(paid),
        "unpaid": _n(state == E.APPROVED),
        "unpaid_amount": _amount(state == E.APPROVED),
        "bank": _n(and_(entitled, e.c.channel == Channel.BANK)),
        "bank_amount": _amount(and_(entitled, e.c.channel == Channel.BANK)),
        "postoffice": _n(and_(entitled, e.c.channel == Channel.POSTOFFICE)),
        "postoffice_amount": _amount(and_(entitled, e.c.channel == Channel.POSTOFFICE)),
        "paid_account": _n(and_(paid, paid_by == Channel.BANK)),
        "paid_account_amount": _amount(and_(paid, paid_by == Channel.BANK)),
        "paid_cash": _n(and_(paid, paid_by == Channel.POSTOFFICE)),
        "paid_cash_amount": _amount(and_(paid, paid_by == Channel.POSTOFFICE)),
        "account_verified": _n(
            and_(entitled, e.c.channel == Channel.BANK, payee_account.c.status == "verified")
        ),
        "reg_matched": _n(matched),
        "reg_corrected": _n(and_(matched, history.c.had_unmatched == 1)),
        "reg_unmatched": _n(unmatched),
        "reg_deceased": _n(deceased),
        "reg_unchecked": _n(and_(~deceased, outcome.in_(("none", "error")))),
    }
    assert tuple(figures) == MEASURES
    source = (
        e.join(admin_unit, admin_unit.c.id == e.c.unit_id)
        .join(person, person.c.id == e.c.person_id)
        .outerjoin(
            settled,
            and_(settled.c.enrollment_id == e.c.id, settled.c.state == InstructionState.SETTLED),
        )
        .outerjoin(payee_account, payee_account.c.id == e.c.payee_account_id)
        .outerjoin(history, history.c.person_id == e.c.person_id)
        .outerjoin(last, last.c.id == history.c.last_id)
    )
    keys = [
        admin_unit.c.level,
        admin_unit.c.scheme,
        e.c.unit_id,
        admin_unit.c.parent_id,
        e.c.programme_id,
        e.c.period,
    ]
    query = (
        select(*_constants(day, as_of), *keys, *(v.label(k) for k, v in figures.items()))
        .select_from(source)
        .group_by(*keys)
    )
    _insert(conn, stats_snapshot, query, MEASURES)


def insert_case_communes(conn: Connection, day: dt.date, as_of: dt.datetime) -> None:
    """Open cases per (unit, programme, period, type); cases naming no unit are "unassigned"."""
    mc = mismatch_case
    keys = [
        func.coalesce(admin_unit.c.level, "unassigned").label("level"),
        func.coalesce(admin_unit.c.scheme, "").label("scheme"),
        func.coalesce(mc.c.unit_id, literal(UNASSIGNED, Integer)).label("unit_id"),
        admin_unit.c.parent_id,
        func.coalesce(mc.c.programme_id, literal(-1, Integer)).label("programme_id"),
        func.coalesce(mc.c.period, literal(UNKNOWN_PERIOD, String)).label("period"),
        mc.c.type,
    ]
    query = (
        select(*_constants(day, as_of), *keys, func.count().label("open_cases"))
        .select_from(mc.outerjoin(admin_unit, admin_unit.c.id == mc.c.unit_id))
        .where(mc.c.status == "open")
        .group_by(*keys)
    )
    _insert(conn, stats_snapshot_case, query, ("type", "open_cases"))


def _insert(conn: Connection, table: Table, query: Any, tail: tuple[str, ...]) -> None:
    conn.execute(insert(table).from_select([*DIMENSIONS, *tail], query))


def _measures(table: Table) -> tuple[str, ...]:
    return MEASURES if table is stats_snapshot else ("open_cases",)


def _extra(table: Table) -> list[Any]:
    return [table.c.type] if table is stats_snapshot_case else []


def _sums(table: Table) -> list[Any]:
    return [func.sum(table.c[m]).label(m) for m in _measures(table)]


def _insert_rolled(conn: Connection, table: Table, query: Any) -> None:
    extra = ("type",) if table is stats_snapshot_case else ()
    _insert(conn, table, query, (*extra, *_measures(table)))


def expand(conn: Connection, table: Table, day: dt.date) -> None:
    """From the base rows: every programme per period, every period per programme, and both."""
    t = table
    base = and_(t.c.day == day, t.c.programme_id != ALL_PROGRAMMES, t.c.period != ALL_PERIODS)
    fixed = [t.c.day, t.c.as_of, t.c.level, t.c.scheme, t.c.unit_id, t.c.parent_id]
    every_programme = literal(ALL_PROGRAMMES, Integer)
    every_period = literal(ALL_PERIODS, String)
    for programme, period, grouped in (
        (every_programme, t.c.period, [t.c.period]),
        (t.c.programme_id, every_period, [t.c.programme_id]),
        (every_programme, every_period, []),
    ):
        query = (
            select(
                *fixed,
                programme.label("programme_id"),
                period.label("period"),
                *_extra(t),
                *_sums(t),
            )
            .where(base)
            .group_by(*fixed, *grouped, *_extra(t))
        )
        _insert_rolled(conn, t, query)


def roll_up(conn: Connection, table: Table, day: dt.date) -> None:
    """Commune rows → legacy districts → provinces (both schemes) → the whole country."""
    t = table
    unit = aliased(admin_unit, name="unit")
    up = aliased(admin_unit, name="up")
    tail = [t.c.programme_id, t.c.period, *_extra(t)]
    communes = and_(t.c.day == day, t.c.level == "commune")
    district = (
        select(
            t.c.day,
            t.c.as_of,
            literal("district", String).label("level"),
            t.c.scheme,
            up.c.id.label("unit_id"),
            up.c.parent_id,
            *tail,
            *_sums(t),
        )
        .select_from(t.join(unit, unit.c.id == t.c.unit_id).join(up, up.c.id == unit.c.parent_id))
        .where(communes, t.c.scheme == LEGACY, up.c.level == "district")
        .group_by(t.c.day, t.c.as_of, t.c.scheme, up.c.id, up.c.parent_id, *tail)
    )
    _insert_rolled(conn, t, district)
    province = (
        select(
            t.c.day,
            t.c.as_of,
            literal("province", String).label("level"),
            t.c.scheme,
            up.c.id.label("unit_id"),
            literal(NATIONAL, Integer).label("parent_id"),
            *tail,
            *_sums(t),
        )
        .select_from(
            t.join(unit, unit.c.id == t.c.unit_id).join(
                up,
                and_(
                    up.c.scheme == unit.c.scheme,
                    up.c.level == "province",
                    up.c.code == unit.c.province_code,
                ),
            )
        )
        .where(communes)
        .group_by(t.c.day, t.c.as_of, t.c.scheme, up.c.id, *tail)
    )
    _insert_rolled(conn, t, province)
    national = (
        select(
            t.c.day,
            t.c.as_of,
            literal("national", String).label("level"),
            literal("", String).label("scheme"),
            literal(NATIONAL, Integer).label("unit_id"),
            literal(None, Integer).label("parent_id"),
            *tail,
            *_sums(t),
        )
        .where(t.c.day == day, t.c.level.in_(("province", "unassigned")))
        .group_by(t.c.day, t.c.as_of, *tail)
    )
    _insert_rolled(conn, t, national)


def ensure_national(conn: Connection, day: dt.date, as_of: dt.datetime) -> None:
    """The whole-country, all-programme, all-period row exists even with no enrollments: it
    is how readers learn that a snapshot was taken, and when."""
    key = and_(
        stats_snapshot.c.day == day,
        stats_snapshot.c.unit_id == NATIONAL,
        stats_snapshot.c.programme_id == ALL_PROGRAMMES,
        stats_snapshot.c.period == ALL_PERIODS,
    )
    if conn.execute(select(stats_snapshot.c.unit_id).where(key)).first() is not None:
        return
    conn.execute(
        insert(stats_snapshot).values(
            day=day,
            as_of=as_of,
            level="national",
            scheme="",
            unit_id=NATIONAL,
            parent_id=None,
            programme_id=ALL_PROGRAMMES,
            period=ALL_PERIODS,
            **dict.fromkeys(MEASURES, 0),
        )
    )
