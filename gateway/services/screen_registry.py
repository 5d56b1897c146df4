"""The registry's enrolled query in screening (SPDCI IBR "enrolled"), asked per person.

The local tick ledger is authoritative for this gateway's own payments: what the registry reports
that is ours — the candidate's own enrollment, or a tick this gateway recorded — is never counted
as "elsewhere", and a registry that does not answer leaves the local result standing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from adapters.registry.port import Enrolment
from gateway.db.tables import admin_unit, enrollment, person, programme, tick
from gateway.domain.programmes import ExclusionGroup
from gateway.domain.states import FlagKind
from gateway.errors import GatewayError
from gateway.security.vault import Purpose
from gateway.services.catalogue import load_catalogue
from gateway.services.context import Services
from gateway.services.screen import Hit, flag_all


def registry_enrolled(
    svc: Services,
    programme_id: int,
    period: str,
    states: Sequence[str],
    now: dt.datetime,
    *,
    import_id: int | None = None,
) -> int:
    """Ask the registry (SPDCI IBR "enrolled") about each candidate; flag other programmes and
    localities. The local ledger is authoritative for this gateway's own payments: what the
    registry reports that is ours — the candidate's own enrollment, or a tick we recorded —
    is not "elsewhere"."""
    where = [
        enrollment.c.programme_id == programme_id,
        enrollment.c.period == period,
        enrollment.c.state.in_(list(states)),
        person.c.pid_enc.is_not(None),
    ]
    if import_id is not None:
        where.append(enrollment.c.import_id == import_id)
    with svc.db.read() as conn:
        rows = conn.execute(
            select(
                enrollment.c.id,
                enrollment.c.person_id,
                person.c.pid_enc,
                programme.c.code,
                programme.c.exclusion_group,
                admin_unit.c.scheme,
                admin_unit.c.code.label("unit_code"),
            )
            .join(person, person.c.id == enrollment.c.person_id)
            .join(programme, programme.c.id == enrollment.c.programme_id)
            .join(admin_unit, admin_unit.c.id == enrollment.c.unit_id)
            .where(*where)
        ).all()
        ours = _local_ticks(conn, period, [r.person_id for r in rows])
    with svc.db.read() as conn:
        groups = load_catalogue(conn).groups
    hits: list[Hit] = []
    try:
        for r in rows:
            answer = svc.registry.enrolled(svc.vault.decrypt(r.pid_enc, Purpose.PID))
            group = groups.get(r.exclusion_group) if r.exclusion_group else None
            hits += _elsewhere(r, answer, group, ours, period)
    except GatewayError:
        # the registry stopped answering: keep what it did say, then let the caller decide
        with svc.db.begin() as conn:
            flag_all(conn, hits, now)
        raise
    with svc.db.begin() as conn:
        return flag_all(conn, hits, now)


def _elsewhere(
    r: Any,
    answer: Sequence[Enrolment],
    group: ExclusionGroup | None,
    ours: set[tuple[int, str, str]],
    period: str,
) -> list[Hit]:
    """The registry's enrolments of one candidate that are another programme or locality."""
    own = (r.code, f"{r.scheme}:{r.unit_code}")
    hits: list[Hit] = []
    for e in answer:
        if e.exclusion_group not in (None, r.exclusion_group) or e.period not in (None, period):
            continue
        if (e.programme, e.locality) == own or (r.person_id, e.programme, e.locality) in ours:
            continue  # our own enrollment or payment, as the registry knows it
        if group is not None and e.programme != r.code and group.allows(r.code, e.programme):
            continue  # a combination the law allows
        detail: dict[str, object] = {
            "programme": e.programme,
            "locality": e.locality,
            "status": e.status,
            "period": e.period,
        }
        hits.append((int(r.id), FlagKind.ENROLLED_ELSEWHERE, f"{e.programme}:{e.locality}", detail))
    return hits


def _local_ticks(
    conn: Connection, period: str, person_ids: Sequence[int]
) -> set[tuple[int, str, str]]:
    """(person, programme, locality) of this gateway's own active ticks for the period."""
    found: set[tuple[int, str, str]] = set()
    for start in range(0, len(person_ids), 5000):
        for t in conn.execute(
            select(tick.c.person_id, tick.c.programme_code, admin_unit.c.scheme, admin_unit.c.code)
            .join(admin_unit, admin_unit.c.id == tick.c.unit_id)
            .where(
                tick.c.source == "local",
                tick.c.state == "active",
                tick.c.period == period,
                tick.c.person_id.in_(person_ids[start : start + 5000]),
            )
        ):
            found.add((int(t.person_id), t.programme_code, f"{t.scheme}:{t.code}"))
    return found
