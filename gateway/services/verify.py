"""Verify proposed enrollments against the population registry.

A record with only a 9-digit CMND is first resolved through the registry (never by formula).
Each person's outcome is stored (registry_verification); a match moves the enrollment to
*verified*, anything else raises a flag an officer sees. A registry failure for one batch is
recorded per person and retried on the next run; it never stops the others.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, insert, select, update

from adapters.registry.port import FieldOutcome, VerifyRequest, VerifyResult
from gateway.db.dialect import insert_ignore
from gateway.db.tables import enrollment, flag, person, programme, registry_verification
from gateway.domain.states import EnrollmentState, FlagKind
from gateway.errors import GatewayError
from gateway.security.principal import Actor
from gateway.security.vault import Purpose
from gateway.services import enrollments, people
from gateway.services.context import Services


@dataclass
class VerifySummary:
    checked: int = 0
    verified: int = 0
    not_found: int = 0
    deceased: int = 0
    mismatched: int = 0
    legacy_resolved: int = 0
    legacy_unresolved: int = 0
    merged: int = 0
    errors: int = 0
    error_codes: dict[str, int] = field(default_factory=dict)


def pending(
    conn: Connection, programme_code: str | None, limit: int, after_id: int = 0
) -> list[tuple[int, int]]:
    """(enrollment id, person id) still proposed and never checked without error, by id."""
    checked = select(registry_verification.c.enrollment_id).where(
        registry_verification.c.outcome != "error"
    )
    query = (
        select(enrollment.c.id, enrollment.c.person_id)
        .where(
            enrollment.c.state == EnrollmentState.PROPOSED,
            enrollment.c.id > after_id,
            enrollment.c.id.not_in(checked),
        )
        .order_by(enrollment.c.id)
        .limit(limit)
    )
    if programme_code:
        query = query.join(programme, programme.c.id == enrollment.c.programme_id).where(
            programme.c.code == programme_code
        )
    return [(int(e), int(p)) for e, p in conn.execute(query)]


def verify_pending(
    svc: Services, actor: Actor, *, programme_code: str | None = None, batch_size: int | None = None
) -> VerifySummary:
    size = batch_size or svc.settings.registry.batch_size
    summary = VerifySummary()
    after_id = 0  # one pass per run: a person the registry failed on waits for the next run
    while True:
        with svc.db.read() as conn:
            todo = pending(conn, programme_code, size, after_id)
        if not todo:
            return summary
        after_id = todo[-1][0]
        _verify_batch(svc, actor, todo, summary)


def _verify_batch(
    svc: Services, actor: Actor, todo: Sequence[tuple[int, int]], summary: VerifySummary
) -> None:
    now = svc.clock()
    with svc.db.begin() as conn:
        todo = _resolve_legacy(svc, conn, actor, todo, summary, now)
        requests, by_ref = _requests(svc, conn, todo)
    try:
        results = svc.registry.verify(requests) if requests else []
    except GatewayError as exc:
        results = [VerifyResult(r.ref, False, error_code=exc.code) for r in requests]
    with svc.db.begin() as conn:
        for result in results:
            for enrollment_id, person_id in by_ref[result.ref]:
                _record(svc, conn, actor, enrollment_id, person_id, result, summary, now)


def _requests(
    svc: Services, conn: Connection, todo: Sequence[tuple[int, int]]
) -> tuple[list[VerifyRequest], dict[str, list[tuple[int, int]]]]:
    by_ref: dict[str, list[tuple[int, int]]] = {}
    requests = []
    rows = {
        r.id: r
        for r in conn.execute(
            select(person).where(
                person.c.id.in_({p for _, p in todo}), person.c.pid_enc.is_not(None)
            )
        )
    }
    for enrollment_id, person_id in todo:
        row = rows.get(person_id)
        if row is None:
            continue  # unresolved legacy record: already flagged
        ref = str(person_id)
        if ref not in by_ref:
            requests.append(
                VerifyRequest(
                    ref=ref,
                    pid=svc.vault.decrypt(row.pid_enc, Purpose.PID),
                    full_name=row.full_name,
                    birth=people.birth_of(row),
                    gender=row.gender,
                )
            )
        by_ref.setdefault(ref, []).append((enrollment_id, person_id))
    return requests, by_ref


def _resolve_legacy(
    svc: Services,
    conn: Connection,
    actor: Actor,
    todo: Sequence[tuple[int, int]],
    summary: VerifySummary,
    now: dt.datetime,
) -> list[tuple[int, int]]:
    """Give records that carry only a CMND number their personal ID, through the registry."""
    no_pid = set(
        conn.execute(
            select(person.c.id).where(
                person.c.id.in_({p for _, p in todo}), person.c.pid_index.is_(None)
            )
        ).scalars()
    )
    out = []
    for enrollment_id, person_id in todo:
        if person_id not in no_pid:
            out.append((enrollment_id, person_id))
            continue
        legacy = _legacy_of(svc, conn, person_id)
        try:
            pid = svc.registry.resolve_legacy(legacy) if legacy else None
        except GatewayError as exc:
            _store(conn, enrollment_id, person_id, "error", {}, None, exc.code, svc, now)
            summary.errors += 1
            continue
        if pid is None:
            summary.legacy_unresolved += 1
            _flag(conn, enrollment_id, FlagKind.LEGACY_UNRESOLVED, {}, now)
            _store(
                conn, enrollment_id, person_id, "not_found", {}, None, "legacy.unresolved", svc, now
            )
            continue
        summary.legacy_resolved += 1
        existing = people.find_by_pid(conn, svc.vault, pid)
        if existing is None or existing == person_id:
            people.set_current_pid(conn, svc.vault, person_id, pid, source="registry", now=now)
            out.append((enrollment_id, person_id))
        elif _move(conn, enrollment_id, person_id, existing, now):
            summary.merged += 1
            out.append((enrollment_id, existing))
        else:  # the person is already enrolled under the personal ID: a duplicate listing
            _flag(
                conn,
                enrollment_id,
                FlagKind.DUPLICATE_IN_INTAKE,
                {"reason": "legacy CMND resolves to a person already enrolled"},
                now,
            )
            _store(conn, enrollment_id, person_id, "duplicate", {}, None, None, svc, now)
    return out


def _legacy_of(svc: Services, conn: Connection, person_id: int) -> str | None:
    from gateway.db.tables import person_identifier

    enc = conn.execute(
        select(person_identifier.c.value_enc).where(
            person_identifier.c.person_id == person_id, person_identifier.c.kind == "cmnd9"
        )
    ).scalar()
    return None if enc is None else svc.vault.decrypt(enc, Purpose.LEGACY_ID)


def _move(
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


def _record(
    svc: Services,
    conn: Connection,
    actor: Actor,
    enrollment_id: int,
    person_id: int,
    result: VerifyResult,
    summary: VerifySummary,
    now: dt.datetime,
) -> None:
    summary.checked += 1
    if result.error_code:
        summary.errors += 1
        summary.error_codes[result.error_code] = summary.error_codes.get(result.error_code, 0) + 1
        _store(conn, enrollment_id, person_id, "error", {}, None, result.error_code, svc, now)
        return
    fields = {k: str(v) for k, v in result.fields.items()}
    if result.name_match is not None:
        fields["name_match"] = str(result.name_match)
    if not result.found:
        summary.not_found += 1
        _store(conn, enrollment_id, person_id, "not_found", fields, None, None, svc, now)
        _flag(conn, enrollment_id, FlagKind.NOT_FOUND, {}, now)
        return
    conn.execute(
        update(person)
        .where(person.c.id == person_id)
        .values(
            vital_status=result.vital_status or "unknown",
            death_date=result.death_date,
            registry_checked_at=now,
            updated_at=now,
        )
    )
    if result.vital_status == "deceased":
        summary.deceased += 1
        _store(conn, enrollment_id, person_id, "deceased", fields, "deceased", None, svc, now)
        _flag(
            conn,
            enrollment_id,
            FlagKind.DECEASED,
            {"death_date": result.death_date.isoformat() if result.death_date else None},
            now,
        )
        return
    mismatched = sorted(k for k, v in result.fields.items() if v == FieldOutcome.MISMATCH)
    if mismatched:
        summary.mismatched += 1
        _store(
            conn, enrollment_id, person_id, "mismatch", fields, result.vital_status, None, svc, now
        )
        _flag(conn, enrollment_id, FlagKind.IDENTITY_MISMATCH, {"fields": mismatched}, now)
        return
    summary.verified += 1
    _store(conn, enrollment_id, person_id, "match", fields, result.vital_status, None, svc, now)
    enrollments.transition(
        conn,
        enrollment_id,
        EnrollmentState.VERIFIED,
        actor=actor,
        reason=f"registry match ({svc.registry.name})",
        now=now,
        expect=EnrollmentState.PROPOSED,
    )


def _store(
    conn: Connection,
    enrollment_id: int,
    person_id: int,
    outcome: str,
    fields: dict[str, str],
    vital: str | None,
    error: str | None,
    svc: Services,
    now: dt.datetime,
) -> None:
    conn.execute(
        insert(registry_verification).values(
            person_id=person_id,
            enrollment_id=enrollment_id,
            outcome=outcome,
            fields=fields,
            vital_status=vital,
            error_code=error,
            source=svc.registry.name,
            checked_at=now,
        )
    )


def _flag(
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
