"""Public status lookup (the transparency portal) and public statistics per commune.

A citizen gives a personal ID and a birth date (in a POST body, never a URL) and sees, per
entitlement, programme, period, status, amount, paid date and channel — nothing else, the name
masked. A wrong pair, an unknown ID and an ID without entitlements give the same answer, and
every path runs the same queries, so neither the answer nor its timing tells which it was.
Requests are rate limited per client in the database (every replica shares the limit).
"""

from __future__ import annotations

import datetime as dt
import hmac
import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, case, delete, func, literal, select, update

from gateway.db.dialect import insert_ignore
from gateway.db.tables import (
    admin_unit,
    enrollment,
    payment_instruction,
    person,
    person_identifier,
    programme,
    rate_limit_window,
    stats_snapshot,
)
from gateway.db.tables.stats import ALL_PERIODS, ALL_PROGRAMMES
from gateway.domain.dates import parse_birth_date
from gateway.domain.states import EnrollmentState, InstructionState
from gateway.errors import FieldProblem, GatewayError, ValidationFailed
from gateway.refdata.admin_units import CURRENT
from gateway.security.vault import Purpose
from gateway.services import stats
from gateway.services.context import Services
from gateway.services.workspace import aware, mask_name

RATE_PURPOSE = b"ratelimit"
PUBLIC_STATES = ("approved", "paid", "suspended", "cancelled", "rejected", "verified", "proposed")


class RateLimited(GatewayError):
    status = 429
    code = "rate_limited"


@dataclass(frozen=True)
class PublicStatus:
    programme_vi: str
    programme_en: str
    period: str
    status: str
    amount: int
    paid_on: dt.date | None
    channel: str


@dataclass(frozen=True)
class LookupAnswer:
    found: bool
    name: str = ""  # masked
    items: tuple[PublicStatus, ...] = ()


def check_rate(svc: Services, client: str, *, now: dt.datetime | None = None) -> None:
    """Count one request for ``client``; raise ``RateLimited`` past the configured limit."""
    web = svc.settings.web
    now = now or svc.clock()
    window = int(now.timestamp()) // web.lookup_rate_window_seconds * web.lookup_rate_window_seconds
    bucket = "lookup:" + svc.vault.index(client, RATE_PURPOSE).hex()
    with svc.db.begin() as conn:
        conn.execute(
            insert_ignore(conn, rate_limit_window).values(
                bucket=bucket, window_start=window, hits=0
            )
        )
        hits = conn.execute(
            update(rate_limit_window)
            .where(rate_limit_window.c.bucket == bucket, rate_limit_window.c.window_start == window)
            .values(hits=rate_limit_window.c.hits + 1)
            .returning(rate_limit_window.c.hits)
        ).scalar_one()
        if random.random() < 0.01:  # noqa: S311 - housekeeping, not security
            conn.execute(
                delete(rate_limit_window).where(
                    rate_limit_window.c.window_start < window - web.lookup_rate_window_seconds
                )
            )
    if hits > web.lookup_rate_limit:
        raise RateLimited(
            "too many lookups; try again in a few minutes",
            "bạn đã tra cứu quá nhiều lần; vui lòng thử lại sau ít phút",
        )


def validate(pid_raw: str, birth_raw: str) -> tuple[str, tuple[int, int | None, int | None]]:
    """Field-level checks of the form (format only: they say nothing about who exists)."""
    problems: list[FieldProblem] = []
    pid = "".join(ch for ch in pid_raw if not ch.isspace())
    if not (len(pid) == 12 and pid.isdigit()):
        problems.append(
            FieldProblem(
                "personal_id",
                "personal_id.format",
                "the personal ID has 12 digits",
                "số định danh cá nhân gồm 12 chữ số",
            )
        )
    birth: tuple[int, int | None, int | None] = (0, None, None)
    try:
        parsed = parse_birth_date(birth_raw, field="birth_date")
        birth = (parsed.year, parsed.month, parsed.day)
    except ValidationFailed as exc:
        problems.extend(exc.problems)
    if birth[1] is None and not problems:
        problems.append(
            FieldProblem(
                "birth_date",
                "birth_date.full",
                "enter the full birth date (day/month/year)",
                "nhập đủ ngày/tháng/năm sinh",
            )
        )
    if problems:
        raise ValidationFailed(problems)
    return pid, birth


def lookup(svc: Services, pid_raw: str, birth_raw: str) -> LookupAnswer:
    pid, birth = validate(pid_raw, birth_raw)
    index = svc.vault.index(pid, Purpose.PID)
    with svc.db.read() as conn:
        candidate = _person(conn, index)
        matches = candidate is not None and _birth_matches(candidate, birth)
        person_id = int(candidate.id) if candidate is not None and matches else -1
        items = _statuses(conn, person_id)  # runs whatever the outcome: same work, same time
    if person_id < 0 or not items or candidate is None:
        return LookupAnswer(False)
    return LookupAnswer(True, mask_name(candidate.full_name), tuple(items))


def _person(conn: Connection, index: bytes) -> Any:
    current = conn.execute(
        select(
            person.c.id,
            person.c.full_name,
            person.c.birth_year,
            person.c.birth_month,
            person.c.birth_day,
        ).where(person.c.pid_index == index)
    ).first()
    history = conn.execute(
        select(person_identifier.c.person_id).where(
            person_identifier.c.kind == "pid", person_identifier.c.value_index == index
        )
    ).scalar()
    if current is not None or history is None:
        return current
    return conn.execute(
        select(
            person.c.id,
            person.c.full_name,
            person.c.birth_year,
            person.c.birth_month,
            person.c.birth_day,
        ).where(person.c.id == history)
    ).first()


def _birth_matches(row: Any, birth: tuple[int, int | None, int | None]) -> bool:
    stored = (
        getattr(row, "birth_year", None),
        getattr(row, "birth_month", None),
        getattr(row, "birth_day", None),
    )
    if stored[1] is None:  # the record holds only a year (common for the elderly)
        return hmac.compare_digest(str(stored[0]), str(birth[0]))
    return hmac.compare_digest(repr(stored), repr(birth))


def _statuses(conn: Connection, person_id: int) -> list[PublicStatus]:
    settled = (
        select(func.max(payment_instruction.c.settled_at))
        .where(
            payment_instruction.c.enrollment_id == enrollment.c.id,
            payment_instruction.c.state == InstructionState.SETTLED,
        )
        .scalar_subquery()
    )
    rows = conn.execute(
        select(
            programme.c.name_vi,
            programme.c.name_en,
            enrollment.c.period,
            enrollment.c.state,
            enrollment.c.amount,
            enrollment.c.channel,
            settled.label("settled_at"),
        )
        .join(programme, programme.c.id == enrollment.c.programme_id)
        .where(enrollment.c.person_id == person_id, enrollment.c.state.in_(PUBLIC_STATES))
        .order_by(enrollment.c.period.desc(), programme.c.code)
    ).all()
    out = []
    for r in rows:
        paid = aware(r.settled_at) if r.state == EnrollmentState.PAID else None
        out.append(
            PublicStatus(
                r.name_vi,
                r.name_en,
                r.period,
                r.state,
                int(r.amount),
                paid.date() if paid else None,
                r.channel,
            )
        )
    return out


# -- public statistics ----------------------------------------------------------------------


@dataclass(frozen=True)
class CommuneFigure:
    code: str
    name: str
    beneficiaries: int | None  # None: fewer than the publication threshold
    paid: int | None
    paid_amount: int | None


def commune_statistics(
    svc: Services, province_code: str, programme_code: str | None, period: str | None
) -> list[CommuneFigure]:
    """Entitled and paid counts per commune of a (2025) province; small counts suppressed.

    Read from the latest statistics snapshot (``statistics_as_of`` says when it was taken);
    computed live before the first one exists."""
    with svc.db.read() as conn:
        day = stats.latest_day(conn)
        rows = (
            _live_rows(conn, province_code, programme_code, period)
            if day is None
            else _snapshot_rows(conn, day, province_code, programme_code, period)
        )
    return [_suppressed(r, svc.settings.web.public_min_count) for r in rows]


def statistics_as_of(svc: Services) -> dt.datetime | None:
    """When the snapshot the public figures come from was taken (None: computed live)."""
    with svc.db.read() as conn:
        day = stats.latest_day(conn)
        return None if day is None else stats.taken_at(conn, day)


def _snapshot_rows(
    conn: Connection,
    day: dt.date,
    province_code: str,
    programme_code: str | None,
    period: str | None,
) -> list[Any]:
    s = stats_snapshot
    province = (
        select(admin_unit.c.id)
        .where(
            admin_unit.c.scheme == CURRENT,
            admin_unit.c.level == "province",
            admin_unit.c.code == province_code,
        )
        .scalar_subquery()
    )
    prog: Any = literal(ALL_PROGRAMMES)
    if programme_code:
        prog = select(programme.c.id).where(programme.c.code == programme_code).scalar_subquery()
    return list(
        conn.execute(
            select(
                admin_unit.c.code,
                admin_unit.c.name,
                s.c.approved.label("n"),
                s.c.paid,
                s.c.paid_amount.label("amount"),
            )
            .join(admin_unit, admin_unit.c.id == s.c.unit_id)
            .where(
                s.c.day == day,
                s.c.parent_id == province,
                s.c.programme_id == prog,
                s.c.period == (period or ALL_PERIODS),
                s.c.approved > 0,
            )
            .order_by(admin_unit.c.name)
        )
    )


def _live_rows(
    conn: Connection, province_code: str, programme_code: str | None, period: str | None
) -> list[Any]:
    entitled = enrollment.c.state.in_((EnrollmentState.APPROVED, EnrollmentState.PAID))
    is_paid = enrollment.c.state == EnrollmentState.PAID
    query = (
        select(
            admin_unit.c.code,
            admin_unit.c.name,
            func.count().label("n"),
            func.sum(case((is_paid, 1), else_=0)).label("paid"),
            func.sum(case((is_paid, enrollment.c.amount), else_=0)).label("amount"),
        )
        .join(admin_unit, admin_unit.c.id == enrollment.c.unit_id)
        .where(
            admin_unit.c.scheme == CURRENT,
            admin_unit.c.province_code == province_code,
            entitled,
        )
        .group_by(admin_unit.c.code, admin_unit.c.name)
        .order_by(admin_unit.c.name)
    )
    if programme_code:
        query = query.join(programme, programme.c.id == enrollment.c.programme_id).where(
            programme.c.code == programme_code
        )
    if period:
        query = query.where(enrollment.c.period == period)
    return list(conn.execute(query))


def _suppressed(r: Any, threshold: int) -> CommuneFigure:
    small = int(r.n) < threshold
    few_paid = small or int(r.paid) < threshold
    return CommuneFigure(
        r.code,
        r.name,
        None if small else int(r.n),
        None if few_paid else int(r.paid),
        None if few_paid else int(r.amount),
    )
