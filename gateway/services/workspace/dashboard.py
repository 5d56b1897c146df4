"""Dashboard figures per admin unit and programme, with a drill-down one level below.

``figures`` is the one function the dashboard calls. It reads the latest daily statistics
snapshot (``gateway.services.stats``): indexed lookups, whatever the number of enrollments, and
the page says when the snapshot was taken. Before the first snapshot exists (a fresh install,
a demo) it computes the same figures from the live tables and the page says so — an empty
dashboard would look like "nothing to pay", which is worse than a slower live answer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, case, func, select

from gateway.db.tables import admin_unit, enrollment, mismatch_case
from gateway.domain.states import EnrollmentState
from gateway.refdata.admin_units import CURRENT
from gateway.security.principal import Actor
from gateway.services import stats, units

E = EnrollmentState
ENTITLED = (E.APPROVED, E.PAID)


@dataclass(frozen=True)
class Totals:
    approved: int = 0  # entitled: approved, paid or not yet
    approved_amount: int = 0
    paid: int = 0
    paid_amount: int = 0
    unpaid: int = 0
    unpaid_amount: int = 0

    @property
    def paid_share(self) -> float:
        return self.paid / self.approved if self.approved else 0.0


@dataclass(frozen=True)
class Breakdown:
    unit_id: int | None
    code: str
    name: str
    totals: Totals
    drill: bool  # has a dashboard of its own to open


@dataclass
class Figures:
    unit: units.Unit | None  # None: the whole country
    totals: Totals
    by_state: dict[str, int] = field(default_factory=dict)
    open_cases: dict[str, int] = field(default_factory=dict)
    channels: dict[str, tuple[int, int]] = field(default_factory=dict)  # channel -> (n, amount)
    breakdown: list[Breakdown] = field(default_factory=list)
    source: str = "live"  # "snapshot": read from the daily snapshot; "live": computed now
    as_of: dt.datetime | None = None  # when the snapshot was taken (None: live)
    campaign: dict[str, int] = field(default_factory=dict)  # registry-sync campaign figures


def _sums() -> list[Any]:
    paid = enrollment.c.state == E.PAID
    unpaid = enrollment.c.state == E.APPROVED
    entitled = enrollment.c.state.in_(ENTITLED)
    amount = enrollment.c.amount
    return [
        func.sum(case((entitled, 1), else_=0)).label("approved"),
        func.sum(case((entitled, amount), else_=0)).label("approved_amount"),
        func.sum(case((paid, 1), else_=0)).label("paid"),
        func.sum(case((paid, amount), else_=0)).label("paid_amount"),
        func.sum(case((unpaid, 1), else_=0)).label("unpaid"),
        func.sum(case((unpaid, amount), else_=0)).label("unpaid_amount"),
    ]


def _totals(row: Any) -> Totals:
    return Totals(*(int(getattr(row, k) or 0) for k in Totals.__dataclass_fields__))


def figures(
    conn: Connection,
    actor: Actor,
    *,
    unit_id: int | None = None,
    programme_id: int | None = None,
    period: str | None = None,
) -> Figures:
    """Scope-checked figures for a unit (default: the actor's own) and optional programme:
    from the latest snapshot, or computed live when none has been taken yet."""
    view = stats.read(conn, actor, unit_id, programme_id, period)
    if view is not None:
        return _from_snapshot(view)
    return _live(conn, actor, unit_id=unit_id, programme_id=programme_id, period=period)


STATES = ("proposed", "verified", "approved", "paid", "rejected", "cancelled", "suspended")


def _from_snapshot(view: stats.StatsView) -> Figures:
    f = view.figures
    by_state = {s: f["unpaid" if s == "approved" else s] for s in STATES}
    return Figures(
        view.unit,
        _snapshot_totals(f),
        by_state={s: n for s, n in by_state.items() if n},
        open_cases=view.open_cases,
        channels={
            c: (f[c], f[f"{c}_amount"]) for c in ("bank", "postoffice") if f[c] or f[f"{c}_amount"]
        },
        breakdown=[
            Breakdown(a.unit_id, a.code, a.name, _snapshot_totals(a.figures), True)
            for a in view.breakdown
        ],
        source="snapshot",
        as_of=view.as_of,
        campaign={k: f[k] for k in stats.CAMPAIGN},
    )


def _snapshot_totals(f: dict[str, int]) -> Totals:
    return Totals(*(f[k] for k in Totals.__dataclass_fields__))


def _live(
    conn: Connection,
    actor: Actor,
    *,
    unit_id: int | None,
    programme_id: int | None,
    period: str | None,
) -> Figures:
    """The same figures from the live tables (before the first snapshot)."""
    if unit_id is None and actor.unit_id is not None:
        unit_id = actor.unit_id
    unit = None
    if unit_id is not None:
        units.require_scope(conn, actor, unit_id)
        unit = units.get(conn, unit_id)
    where = [units.scope_filter(actor, enrollment.c.unit_id)]
    if unit is not None:
        below = select(admin_unit.c.id).where(
            admin_unit.c.scheme == unit.scheme,
            admin_unit.c.path.startswith(unit.path, autoescape=True),
        )
        where.append(enrollment.c.unit_id.in_(below))
    if programme_id is not None:
        where.append(enrollment.c.programme_id == programme_id)
    if period:
        where.append(enrollment.c.period == period)
    totals = _totals(conn.execute(select(*_sums()).where(*where)).one())
    out = Figures(unit, totals)
    out.by_state = {
        s: int(n)
        for s, n in conn.execute(
            select(enrollment.c.state, func.count()).where(*where).group_by(enrollment.c.state)
        )
    }
    out.channels = {
        c: (int(n), int(a or 0))
        for c, n, a in conn.execute(
            select(enrollment.c.channel, func.count(), func.sum(enrollment.c.amount))
            .where(*where, enrollment.c.state.in_(ENTITLED))
            .group_by(enrollment.c.channel)
        )
    }
    out.open_cases = _open_cases(conn, actor, unit, programme_id, period)
    out.breakdown = _breakdown(conn, unit, where)
    return out


def _open_cases(
    conn: Connection,
    actor: Actor,
    unit: units.Unit | None,
    programme_id: int | None,
    period: str | None,
) -> dict[str, int]:
    where = [mismatch_case.c.status == "open", units.scope_filter(actor, mismatch_case.c.unit_id)]
    if unit is not None:
        where.append(
            mismatch_case.c.unit_id.in_(
                select(admin_unit.c.id).where(
                    admin_unit.c.scheme == unit.scheme,
                    admin_unit.c.path.startswith(unit.path, autoescape=True),
                )
            )
        )
    if programme_id is not None:
        where.append(mismatch_case.c.programme_id == programme_id)
    if period:
        where.append(mismatch_case.c.period == period)
    rows = conn.execute(
        select(mismatch_case.c.type, func.count())
        .where(*where)
        .group_by(mismatch_case.c.type)
        .order_by(func.count().desc())
    )
    return {t: int(n) for t, n in rows}


def _breakdown(conn: Connection, unit: units.Unit | None, where: list[Any]) -> list[Breakdown]:
    if unit is not None and unit.level == "commune":
        return []
    if unit is None:  # the whole country: one line per province
        key = admin_unit.c.province_code
        rows = conn.execute(
            select(key.label("code"), *_sums())
            .join(admin_unit, admin_unit.c.id == enrollment.c.unit_id)
            .where(*where)
            .group_by(key)
            .order_by(key)
        ).all()
        provinces = {
            p.code: p
            for p in conn.execute(
                select(admin_unit.c.code, admin_unit.c.id, admin_unit.c.name).where(
                    admin_unit.c.scheme == CURRENT, admin_unit.c.level == "province"
                )
            )
        }
        return [
            Breakdown(
                provinces[r.code].id if r.code in provinces else None,
                r.code,
                provinces[r.code].name if r.code in provinces else r.code,
                _totals(r),
                r.code in provinces,
            )
            for r in rows
        ]
    rows = conn.execute(
        select(admin_unit.c.id, admin_unit.c.code, admin_unit.c.name, admin_unit.c.level, *_sums())
        .join(admin_unit, admin_unit.c.id == enrollment.c.unit_id)
        .where(*where)
        .group_by(admin_unit.c.id, admin_unit.c.code, admin_unit.c.name, admin_unit.c.level)
        .order_by(admin_unit.c.name)
    ).all()
    return [Breakdown(r.id, r.code, r.name, _totals(r), True) for r in rows]
