"""Screening: is this person already paid or enrolled elsewhere, or twice here?

Run at intake and again right before disbursement. The joins are set-based SQL over the tick
ledger and enrollments (blind-indexed persons, integer keys); only the hits come back to Python,
to be written as flags an officer resolves. Records without a valid personal ID are matched by
normalised name + birth year + commune (rapidfuzz) and raised as *possible* duplicates, never
merged automatically.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import Connection, and_, or_, select
from sqlalchemy.orm import aliased

from gateway.db.dialect import insert_ignore
from gateway.db.tables import admin_unit, enrollment, flag, person, programme, tick
from gateway.domain.programmes import Claim, resolve_exclusions
from gateway.domain.states import EnrollmentState, FlagKind
from gateway.services.catalogue import load_catalogue
from gateway.services.context import Services

ACTIVE = (EnrollmentState.PROPOSED, EnrollmentState.VERIFIED, EnrollmentState.APPROVED)
FUZZY_THRESHOLD = 90


@dataclass
class ScreenSummary:
    ticked_elsewhere: int = 0
    enrolled_elsewhere: int = 0
    exclusive: int = 0
    possible_duplicates: int = 0


def screen(
    svc: Services,
    programme_code: str,
    period: str,
    *,
    consult_registry: bool = False,
    states: Sequence[str] = ACTIVE,
) -> ScreenSummary:
    summary = ScreenSummary()
    now = svc.clock()
    with svc.db.begin() as conn:
        prog_id = conn.execute(
            select(programme.c.id).where(programme.c.code == programme_code)
        ).scalar_one()
        summary.ticked_elsewhere = flag_all(
            conn, ticked_elsewhere(conn, prog_id, period, states), now
        )
        summary.exclusive = flag_all(conn, exclusive_claims(conn, period, states), now)
        summary.possible_duplicates = flag_all(
            conn, possible_duplicates(conn, prog_id, period, states), now
        )
    if consult_registry:
        from gateway.services.screen_registry import registry_enrolled

        summary.enrolled_elsewhere = registry_enrolled(svc, prog_id, period, states, now)
    return summary


Hit = tuple[int, str, str, dict[str, object]]  # enrollment id, flag kind, detail key, detail


def ticked_elsewhere(
    conn: Connection,
    programme_id: int,
    period: str,
    states: Sequence[str],
    enrollment_ids: Iterable[int] | None = None,
    *,
    import_id: int | None = None,
) -> list[Hit]:
    """Active ticks in the same exclusion group and period by another programme or locality
    (of the given enrollments, or of one imported list, or of the whole programme period)."""
    tick_unit = aliased(admin_unit)
    query = (
        select(
            enrollment.c.id,
            tick.c.programme_code,
            tick.c.payment_ref,
            tick.c.source,
            tick_unit.c.scheme,
            tick_unit.c.code,
        )
        .join(programme, programme.c.id == enrollment.c.programme_id)
        .join(
            tick,
            and_(
                tick.c.person_id == enrollment.c.person_id,
                tick.c.exclusion_group == programme.c.exclusion_group,
                tick.c.period == enrollment.c.period,
                tick.c.state == "active",
            ),
        )
        .outerjoin(tick_unit, tick_unit.c.id == tick.c.unit_id)
        .where(
            enrollment.c.programme_id == programme_id,
            enrollment.c.period == period,
            enrollment.c.state.in_(list(states)),
            or_(
                tick.c.programme_code != programme.c.code,
                tick.c.unit_id.is_(None),
                tick.c.unit_id != enrollment.c.unit_id,
            ),
        )
    )
    if enrollment_ids is not None:
        query = query.where(enrollment.c.id.in_(list(enrollment_ids)))
    if import_id is not None:
        query = query.where(enrollment.c.import_id == import_id)
    catalogue = load_catalogue(conn)
    own = catalogue.by_id(programme_id).code
    group = catalogue.group_of(own)
    return [
        (
            int(r.id),
            FlagKind.TICKED_ELSEWHERE,
            f"{r.programme_code}:{r.scheme}:{r.code}",
            {
                "programme": r.programme_code,
                "locality": f"{r.scheme}:{r.code}" if r.code else None,
                "payment_ref": r.payment_ref,
                "source": r.source,
            },
        )
        for r in conn.execute(query)
        # a pair the law allows together (the group's allowed combinations) is not a hit
        if r.programme_code == own or group is None or not group.allows(own, r.programme_code)
    ]


def exclusive_claims(
    conn: Connection, period: str, states: Sequence[str], *, import_id: int | None = None
) -> list[Hit]:
    """Several programmes of one exclusion group for one person and period: keep the highest
    (of everyone, or of the persons one imported list names)."""
    catalogue = load_catalogue(conn)
    other = aliased(enrollment)
    other_prog = aliased(programme)
    query = (
        select(
            enrollment.c.id,
            enrollment.c.person_id,
            programme.c.code,
            enrollment.c.amount,
            programme.c.exclusion_group,
        )
        .join(programme, programme.c.id == enrollment.c.programme_id)
        .join(
            other,
            and_(
                other.c.person_id == enrollment.c.person_id,
                other.c.period == enrollment.c.period,
                other.c.id != enrollment.c.id,
                other.c.state.in_(list(states)),
            ),
        )
        .join(
            other_prog,
            and_(
                other_prog.c.id == other.c.programme_id,
                other_prog.c.exclusion_group == programme.c.exclusion_group,
            ),
        )
        .where(enrollment.c.period == period, enrollment.c.state.in_(list(states)))
        .distinct()
    )
    if import_id is not None:
        listed = aliased(enrollment)
        query = query.where(
            enrollment.c.person_id.in_(
                select(listed.c.person_id).where(listed.c.import_id == import_id)
            )
        )
    claims: dict[tuple[int, str], list[Claim]] = defaultdict(list)
    for r in conn.execute(query):
        claims[(r.person_id, r.exclusion_group)].append(Claim(int(r.id), r.code, int(r.amount)))
    hits: list[Hit] = []
    for (_, group_code), person_claims in claims.items():
        # the earliest enrollment first: a tie (or "one only") keeps it, whoever screens when
        person_claims.sort(key=lambda c: c.key)
        decision = resolve_exclusions(person_claims, catalogue.groups[group_code])
        for loser, winner in decision.excluded:
            hits.append(
                (
                    int(loser.key),
                    FlagKind.EXCLUSIVE_PROGRAMME,
                    winner.programme,
                    {
                        "kept_programme": winner.programme,
                        "kept_amount": winner.amount,
                        "group": group_code,
                        "policy": catalogue.groups[group_code].policy,
                    },
                )
            )
    return hits


def possible_duplicates(
    conn: Connection,
    programme_id: int,
    period: str,
    states: Sequence[str],
    *,
    units: Collection[int] | None = None,
) -> list[Hit]:
    """Records without a valid personal ID, compared by folded name (rapidfuzz), birth date and
    commune: *possible* duplicates for a person to confirm, never merged. ``units``: only the
    communes where such records were just listed (screening at intake)."""
    if units is not None and not units:
        return []
    in_units = (
        enrollment.c.unit_id.in_(sorted(units))
        if units is not None
        else enrollment.c.unit_id.in_(
            select(enrollment.c.unit_id)
            .join(person, person.c.id == enrollment.c.person_id)
            .where(
                enrollment.c.programme_id == programme_id,
                enrollment.c.period == period,
                person.c.pid_index.is_(None),
            )
        )
    )
    rows = conn.execute(
        select(
            enrollment.c.id,
            enrollment.c.unit_id,
            enrollment.c.person_id,
            person.c.name_key,
            person.c.birth_year,
            person.c.birth_month,
            person.c.birth_day,
            person.c.pid_index.is_(None).label("no_pid"),
        )
        .join(person, person.c.id == enrollment.c.person_id)
        .where(
            enrollment.c.programme_id == programme_id,
            enrollment.c.period == period,
            enrollment.c.state.in_(list(states)),
            in_units,
        )
    ).all()
    blocks: dict[tuple[int, int | None], list[Any]] = defaultdict(list)
    for r in rows:
        blocks[(r.unit_id, r.birth_year)].append(r)
    hits: list[Hit] = []
    for block in blocks.values():
        for i, a in enumerate(block):
            for b in block[i + 1 :]:
                if not (a.no_pid or b.no_pid) or a.person_id == b.person_id:
                    continue
                if not same_birth(a, b):
                    continue
                score = fuzz.token_sort_ratio(a.name_key, b.name_key)
                if score >= FUZZY_THRESHOLD:
                    for x, y in ((a, b), (b, a)):
                        hits.append(
                            (
                                int(x.id),
                                FlagKind.POSSIBLE_DUPLICATE,
                                str(y.id),
                                {"other_enrollment": int(y.id), "score": round(score)},
                            )
                        )
    return hits


def same_birth(a: Any, b: Any) -> bool:
    """Birth dates agree where both are known (a year-only record matches any day that year)."""
    if a.birth_year != b.birth_year:
        return False
    if a.birth_month is None or b.birth_month is None:
        return True
    return bool((a.birth_month, a.birth_day) == (b.birth_month, b.birth_day))


def flag_all(conn: Connection, hits: Sequence[Hit], now: dt.datetime) -> int:
    """Write the hits as open flags (each once); returns how many enrollments were flagged."""
    if not hits:
        return 0
    stmt = insert_ignore(conn, flag)
    for start in range(0, len(hits), 500):
        conn.execute(
            stmt,
            [
                {
                    "enrollment_id": eid,
                    "kind": kind,
                    "detail_key": key[:80],
                    "detail": detail,
                    "status": "open",
                    "created_at": now,
                }
                for eid, kind, key, detail in hits[start : start + 500]
            ],
        )
    return len({h[0] for h in hits})


_flag_all = flag_all  # the name the disbursement step calls
