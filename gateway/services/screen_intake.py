"""Screening at intake: a list's enrollments are screened as they arrive, inside the import's own
transaction — set-based SQL against the tick ledger, the other programmes of their exclusion group
(only the highest level where the law says so) and, for records without a valid personal ID, the
possible duplicates in their commune. Disbursement screens again right before money moves.

When ``ANSINH_WELFARE_SCREEN_REGISTRY`` is on, the registry's enrolled query is asked too, after
the import has committed (one call per person; no database lock held meanwhile). The local ledger
stays authoritative: registry answers only add "enrolled elsewhere" flags, our own payments as
the registry echoes them are ignored, and a registry that does not answer does not undo intake.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Iterable

from sqlalchemy import Connection, func, select

from gateway.db.tables import enrollment, flag, programme
from gateway.errors import UpstreamError
from gateway.services import screen
from gateway.services.context import Services

log = logging.getLogger(__name__)


def at_intake(
    conn: Connection,
    programme_id: int,
    period: str,
    import_id: int,
    now: dt.datetime,
    *,
    enrollment_ids: Iterable[int] | None = None,
    no_pid_units: Collection[int] = (),
) -> int:
    """Flag what the list (or the given enrollments of it) brings in; returns how many
    enrollments were flagged by this screening."""
    active = screen.ACTIVE
    ids = None if enrollment_ids is None else list(enrollment_ids)
    hits = screen.ticked_elsewhere(conn, programme_id, period, active, ids, import_id=import_id)
    if _group_shared(conn, programme_id, period):
        hits += screen.exclusive_claims(conn, period, active, import_id=import_id)
    hits += screen.possible_duplicates(conn, programme_id, period, active, units=no_pid_units)
    return screen.flag_all(conn, hits, now)


def _group_shared(conn: Connection, programme_id: int, period: str) -> bool:
    """Does another programme of the same exclusion group have enrollments this period?
    (If not — the first list of a period — there is nothing to compare, and no query to run.)"""
    mine = select(programme.c.exclusion_group).where(programme.c.id == programme_id)
    found = conn.execute(
        select(enrollment.c.id)
        .join(programme, programme.c.id == enrollment.c.programme_id)
        .where(
            programme.c.exclusion_group == mine.scalar_subquery(),
            programme.c.id != programme_id,
            enrollment.c.period == period,
        )
        .limit(1)
    ).first()
    return found is not None


def flagged(conn: Connection, import_id: int) -> int:
    """Enrollments of the list that carry an open flag."""
    return int(
        conn.execute(
            select(func.count(func.distinct(flag.c.enrollment_id)))
            .join(enrollment, enrollment.c.id == flag.c.enrollment_id)
            .where(enrollment.c.import_id == import_id, flag.c.status == "open")
        ).scalar_one()
    )


def ask_registry(svc: Services, programme_id: int, period: str, import_id: int) -> str:
    """The registry's enrolled query for the list's people: ``done``, or ``unavailable`` (the
    import and the local screening stand; the pre-disbursement screening runs again)."""
    from gateway.services.screen_registry import registry_enrolled

    try:
        registry_enrolled(
            svc, programme_id, period, screen.ACTIVE, svc.clock(), import_id=import_id
        )
    except UpstreamError as exc:
        log.warning(
            "registry enrolled query failed during intake screening",
            extra={"import_id": import_id, "error": exc.code},
        )
        return "unavailable"
    return "done"
