"""Daily statistics snapshots per admin unit, programme and period (docs/statistics.md).

``snapshot`` computes every figure inside the database (gateway.services.stats_sql) in one
transaction that first deletes the day's rows: re-taking a day replaces it, and the unique key
(day, unit, programme, period) makes a duplicate impossible. ``read`` answers from the
snapshot with indexed lookups only — one row, its open cases and the rows one level below for
the drill-down — scope-checked like every other read, and says when the snapshot was taken.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, delete, func, select

from gateway.db.tables import admin_unit, programme, stats_snapshot, stats_snapshot_case
from gateway.db.tables.stats import ALL_PERIODS, ALL_PROGRAMMES, MEASURES, NATIONAL
from gateway.errors import problem
from gateway.refdata.admin_units import CURRENT
from gateway.security.principal import Actor
from gateway.services import stats_sql, units
from gateway.services.context import Services

CAMPAIGN = (
    "records",
    "reg_matched",
    "reg_corrected",
    "reg_unmatched",
    "reg_deceased",
    "reg_unchecked",
    "account_verified",
    "paid_account",
    "paid_account_amount",
    "paid_cash",
    "paid_cash_amount",
)


def snapshot(svc: Services, as_of: dt.datetime | None = None) -> dict[str, Any]:
    """Take (or re-take) the snapshot of ``as_of``'s UTC day; returns counts for the run record."""
    as_of = (as_of or svc.clock()).astimezone(dt.UTC)
    day = as_of.date()
    started = time.perf_counter()
    with svc.db.begin() as conn:
        replaced = 0
        for table in (stats_snapshot_case, stats_snapshot):
            replaced += conn.execute(delete(table).where(table.c.day == day)).rowcount or 0
        stats_sql.insert_communes(conn, day, as_of)
        stats_sql.expand(conn, stats_snapshot, day)
        stats_sql.roll_up(conn, stats_snapshot, day)
        stats_sql.ensure_national(conn, day, as_of)
        stats_sql.insert_case_communes(conn, day, as_of)
        stats_sql.expand(conn, stats_snapshot_case, day)
        stats_sql.roll_up(conn, stats_snapshot_case, day)
        base, rows, cases = _written(conn, day)
        pruned = prune(conn, day, svc.settings.web.stats_keep_days)
    return {
        "day": day.isoformat(),
        "base_rows": base,
        "rows": rows,
        "case_rows": cases,
        "replaced_rows": replaced,
        "pruned_days": len(pruned),
        "seconds": round(time.perf_counter() - started, 3),
    }


def prune(conn: Connection, today: dt.date, keep_days: int) -> list[dt.date]:
    """Delete the snapshot days older than ``keep_days`` before ``today``, except the last
    snapshot day of each month, kept for good: a dashboard needs recent days, a year-on-year
    report needs months. Returns the days deleted. ``keep_days`` 0 keeps everything."""
    if keep_days <= 0:
        return []
    cutoff = today - dt.timedelta(days=keep_days)
    days = [
        d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d))
        for d in conn.execute(
            select(stats_snapshot.c.day).where(stats_snapshot.c.day < cutoff).distinct()
        ).scalars()
    ]
    month_end: dict[tuple[int, int], dt.date] = {}
    for d in days:
        month_end[(d.year, d.month)] = max(d, month_end.get((d.year, d.month), d))
    gone = sorted(d for d in days if month_end[(d.year, d.month)] != d)
    for table in (stats_snapshot_case, stats_snapshot):
        for start in range(0, len(gone), 500):
            conn.execute(delete(table).where(table.c.day.in_(gone[start : start + 500])))
    return gone


def _written(conn: Connection, day: dt.date) -> tuple[int, int, int]:
    """Rows of the day (counted, not summed from rowcount: drivers disagree on INSERT…SELECT)."""
    s, c = stats_snapshot, stats_snapshot_case
    specific = and_(
        s.c.level == "commune", s.c.programme_id != ALL_PROGRAMMES, s.c.period != ALL_PERIODS
    )
    return (
        conn.execute(select(func.count()).where(s.c.day == day, specific)).scalar_one(),
        conn.execute(select(func.count()).where(s.c.day == day)).scalar_one(),
        conn.execute(select(func.count()).where(c.c.day == day)).scalar_one(),
    )


# -- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Area:
    """One row of the drill-down: a unit one level below, with its figures."""

    unit_id: int
    level: str
    scheme: str
    code: str
    name: str
    figures: dict[str, int]


@dataclass
class StatsView:
    day: dt.date
    as_of: dt.datetime  # when the snapshot was taken
    unit: units.Unit | None  # None: the whole country
    programme_id: int | None
    period: str | None
    figures: dict[str, int]
    open_cases: dict[str, int] = field(default_factory=dict)
    breakdown: list[Area] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        unit = self.unit
        return {
            "day": self.day.isoformat(),
            "as_of": self.as_of.isoformat(),
            "unit": None
            if unit is None
            else {
                "id": unit.id,
                "scheme": unit.scheme,
                "level": unit.level,
                "code": unit.code,
                "name": unit.name,
            },
            "programme_id": self.programme_id,
            "period": self.period,
            "figures": self.figures,
            "campaign": {k: self.figures[k] for k in CAMPAIGN},
            "open_cases": self.open_cases,
            "breakdown": [
                {
                    "unit_id": a.unit_id,
                    "level": a.level,
                    "scheme": a.scheme,
                    "code": a.code,
                    "name": a.name,
                    "figures": a.figures,
                }
                for a in self.breakdown
            ],
        }


def latest_day(conn: Connection, on_or_before: dt.date | None = None) -> dt.date | None:
    query = select(func.max(stats_snapshot.c.day))
    if on_or_before is not None:
        query = query.where(stats_snapshot.c.day <= on_or_before)
    day = conn.execute(query).scalar()
    if isinstance(day, str):  # SQLite hands an aggregate of a DATE back as text
        day = dt.date.fromisoformat(day)
    return day


def taken_at(conn: Connection, day: dt.date) -> dt.datetime:
    """When the snapshot of ``day`` was taken (its national all-programme row's ``as_of``)."""
    s = stats_snapshot
    taken = conn.execute(
        select(s.c.as_of).where(
            s.c.day == day,
            s.c.unit_id == NATIONAL,
            s.c.programme_id == ALL_PROGRAMMES,
            s.c.period == ALL_PERIODS,
        )
    ).scalar_one()
    return _aware(taken)


def read(
    conn: Connection,
    actor: Actor,
    unit_id: int | None = None,
    programme_id: int | None = None,
    period: str | None = None,
    as_of: dt.date | dt.datetime | None = None,
) -> StatsView | None:
    """The latest snapshot's figures (or the latest on or before ``as_of``) for a unit (default:
    the actor's own; national roles: the whole country); None when no snapshot exists yet."""
    if unit_id is None and actor.unit_id is not None:
        unit_id = actor.unit_id
    unit = None
    if unit_id is not None:
        units.require_scope(conn, actor, unit_id)
        unit = units.get(conn, unit_id)
    if isinstance(as_of, dt.datetime):
        as_of = as_of.astimezone(dt.UTC).date()
    day = latest_day(conn, as_of)
    if day is None:
        return None
    s = stats_snapshot
    key = unit.id if unit is not None else NATIONAL
    prog = programme_id if programme_id is not None else ALL_PROGRAMMES
    per = period or ALL_PERIODS
    row = conn.execute(
        select(*(s.c[m] for m in MEASURES)).where(
            s.c.day == day, s.c.unit_id == key, s.c.programme_id == prog, s.c.period == per
        )
    ).first()
    view = StatsView(day, taken_at(conn, day), unit, programme_id, period, _figures(row))
    c = stats_snapshot_case
    view.open_cases = {
        t: int(n)
        for t, n in conn.execute(
            select(c.c.type, c.c.open_cases)
            .where(c.c.day == day, c.c.unit_id == key, c.c.programme_id == prog, c.c.period == per)
            .order_by(c.c.open_cases.desc(), c.c.type)
        )
    }
    view.breakdown = _children(conn, day, key, prog, per, national=unit is None)
    return view


def _children(
    conn: Connection, day: dt.date, key: int, prog: int, per: str, *, national: bool
) -> list[Area]:
    s = stats_snapshot
    rows = conn.execute(
        select(s, admin_unit.c.code, admin_unit.c.name)
        .join(admin_unit, admin_unit.c.id == s.c.unit_id)
        .where(s.c.day == day, s.c.parent_id == key, s.c.programme_id == prog, s.c.period == per)
    ).all()
    areas = [
        Area(
            int(r.unit_id),
            r.level,
            r.scheme,
            r.code,
            r.name if r.scheme == CURRENT else f"{r.name} ({r.scheme})",
            _figures(r),
        )
        for r in rows
    ]
    # the country lists provinces by code, a province or district its areas by name
    areas.sort(key=lambda a: (a.scheme != CURRENT, a.code) if national else (a.name, a.code))
    return areas


def _figures(row: Any) -> dict[str, int]:
    if row is None:  # a unit with no enrollments has no row: every figure is zero
        return dict.fromkeys(MEASURES, 0)
    return {m: int(getattr(row, m) or 0) for m in MEASURES}


def _aware(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


# -- for the CLI and the API: codes in, scope-checked figures out -----------------------------


def resolve_filters(
    conn: Connection, unit_code: str | None, programme_code: str | None
) -> tuple[int | None, int | None]:
    """``[scheme:]code`` of a unit (2025 scheme by default; province, district or commune) and
    a programme code, to ids; an unknown one is a field problem."""
    unit_id = None
    if unit_code:
        scheme, _, code = unit_code.rpartition(":")
        scheme = units.scheme_of(scheme or None, field="unit")
        row = conn.execute(
            select(admin_unit.c.id)
            .where(admin_unit.c.scheme == scheme, admin_unit.c.code == code.strip())
            .limit(1)  # levels never share a code: 2 digits province, 3 district, 5 commune
        ).first()
        if row is None:
            raise problem(
                "unit",
                "admin_unit.unknown",
                f"{code!r} is not an admin unit code of scheme {scheme}",
                f"{code!r} không phải mã đơn vị hành chính của hệ mã {scheme}",
            )
        unit_id = int(row.id)
    programme_id = None
    if programme_code:
        programme_id = conn.execute(
            select(programme.c.id).where(programme.c.code == programme_code)
        ).scalar()
        if programme_id is None:
            raise problem(
                "programme",
                "programme.unknown",
                f"no programme {programme_code!r}",
                f"không có chương trình {programme_code!r}",
            )
    return unit_id, programme_id
