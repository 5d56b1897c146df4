"""Verify proposed enrollments against the population registry, in bulk.

Pipelined: the main thread reads the next chunks of candidates while up to
``ANSINH_REGISTRY_VERIFY_CONCURRENCY`` registry calls are in flight on pooled connections (the
batch operation where the registry has one: ``RegistryPort.max_batch`` persons a call), and
records each answered chunk in one transaction (``verify_record``). Nothing a person's outcome
depends on is kept in memory beyond the chunks in flight, so memory does not grow with the
population.

Resumable: what is pending is read from the database (proposed, and no verification other than
an error), so a run that crashed is simply run again — recorded chunks are never sent twice, and
the interrupted run is marked as such. A registry failure is recorded for each person it hit and
retried by the next run; it never stops the others.

A record with only a 9-digit CMND is first resolved through the registry (never by formula).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from sqlalchemy import Connection, exists, func, select, update

from adapters.registry.port import RegistryPort, VerifyRequest, VerifyResult
from gateway.db.tables import (
    enrollment,
    person,
    person_identifier,
    programme,
    registry_verification,
    registry_verify_run,
)
from gateway.domain.states import EnrollmentState, FlagKind
from gateway.errors import GatewayError
from gateway.security.principal import Actor
from gateway.security.vault import Purpose
from gateway.services import audit, people
from gateway.services.context import Services
from gateway.services.verify_record import Chunk, VerifySummary, record_chunk, record_plain

__all__ = ["VerifySummary", "pending", "verify_pending"]
log = logging.getLogger("ansinh.verify")
SINGLE_LOOKUP_CHUNK = 50  # persons per task when the registry only answers one at a time
Progress = Callable[[int], None]
Started = Callable[[int], None]


PERSON_COLUMNS = (
    person.c.id,
    person.c.pid_enc,
    person.c.full_name,
    person.c.birth_year,
    person.c.birth_month,
    person.c.birth_day,
    person.c.gender,
)


def _pending_query(programme_code: str | None, *columns: Any, keyset: bool = False) -> Any:
    """Proposed enrollments without a verification other than an error (NOT EXISTS on the
    indexed enrollment_id: constant cost per row however many are already verified).

    ``keyset``: pages walk the primary key (``id > after ORDER BY id LIMIT n``). The state test
    is then written so that it cannot use the (state, unit) index — otherwise SQLite reads every
    proposed row and sorts them for each page, quadratic over a million enrollments."""
    rv = registry_verification
    done = exists().where(rv.c.enrollment_id == enrollment.c.id, rv.c.outcome != "error")
    state = enrollment.c.state.concat("") if keyset else enrollment.c.state
    query = select(enrollment.c.id, enrollment.c.person_id, *columns).where(
        state == EnrollmentState.PROPOSED, ~done
    )
    if programme_code:
        wanted = select(programme.c.id).where(programme.c.code == programme_code)
        column = enrollment.c.programme_id + 0 if keyset else enrollment.c.programme_id
        query = query.where(column == wanted.scalar_subquery())
    return query


def pending(
    conn: Connection, programme_code: str | None, limit: int, after_id: int = 0
) -> list[tuple[int, int]]:
    """(enrollment id, person id) still proposed and never checked without error, by id."""
    query = (
        _pending_query(programme_code, keyset=True)
        .where(enrollment.c.id > after_id)
        .order_by(enrollment.c.id)
        .limit(limit)
    )
    return [(int(e), int(p)) for e, p in conn.execute(query)]


def _candidates(
    conn: Connection, programme_code: str | None, limit: int, after_id: int
) -> list[Any]:
    """The next pending enrollments with what the registry is asked about their person."""
    query = (
        _pending_query(programme_code, *PERSON_COLUMNS[1:], keyset=True)
        .join(person, person.c.id == enrollment.c.person_id)
        .where(enrollment.c.id > after_id)
        .order_by(enrollment.c.id)
        .limit(limit)
    )
    return list(conn.execute(query))


def count_pending(conn: Connection, programme_code: str | None) -> int:
    sub = _pending_query(programme_code).subquery()
    return int(conn.execute(select(func.count()).select_from(sub)).scalar_one())


def verify_pending(
    svc: Services,
    actor: Actor,
    *,
    programme_code: str | None = None,
    batch_size: int | None = None,
    concurrency: int | None = None,
    progress: Progress | None = None,
    started: Started | None = None,
) -> VerifySummary:
    clock = time.perf_counter()
    summary = VerifySummary()
    _prepare_registry(svc.registry)
    summary.run_id, summary.resumed = _start_run(svc, actor, programme_code)
    with svc.db.read() as conn:
        summary.total = count_pending(conn, programme_code)
    if started:
        started(summary.total)
    try:
        _pipeline(svc, actor, programme_code, summary, batch_size, concurrency, progress)
    except BaseException as exc:
        _finish_run(svc, summary, "failed", error=type(exc).__name__)
        raise
    summary.seconds = round(time.perf_counter() - clock, 3)
    _finish_run(svc, summary, "finished")
    return summary


def _prepare_registry(registry: RegistryPort) -> None:
    """Load the WSDL / check the mapping now: a wrong mapping stops the run before it starts;
    an unreachable registry does not (each chunk records the failure and moves on)."""
    check = getattr(registry, "check", None)
    if check is None:
        return
    try:
        check()
    except GatewayError as exc:
        log.warning(
            "registry not ready; failures are recorded per person", extra={"code": exc.code}
        )


def _chunk_size(svc: Services, batch_size: int | None) -> int:
    max_batch = int(getattr(svc.registry, "max_batch", 1) or 1)
    if max_batch <= 1:
        return SINGLE_LOOKUP_CHUNK
    return max(1, min(batch_size or svc.settings.registry.batch_size, max_batch))


def _pipeline(
    svc: Services,
    actor: Actor,
    programme_code: str | None,
    summary: VerifySummary,
    batch_size: int | None,
    concurrency: int | None,
    progress: Progress | None,
) -> None:
    size = _chunk_size(svc, batch_size)
    workers = max(1, concurrency or svc.settings.registry.verify_concurrency)
    inflight: dict[Future[list[VerifyResult]], Chunk] = {}
    after_id, exhausted = 0, False
    with ThreadPoolExecutor(workers, thread_name_prefix="verify") as pool:
        while True:
            while not exhausted and len(inflight) < workers * 2:
                with svc.db.read() as conn:
                    rows = _candidates(conn, programme_code, size, after_id)
                if not rows:
                    exhausted = True
                    break
                after_id = rows[-1].id
                chunk = _chunk(svc, rows, summary, progress)
                if chunk.requests:
                    inflight[pool.submit(ask, svc.registry, chunk.requests)] = chunk
            if not inflight:
                return
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            for future in done:
                chunk = inflight.pop(future)
                now = svc.clock()
                with svc.db.begin() as conn:
                    record_chunk(
                        conn,
                        chunk,
                        future.result(),
                        actor=actor,
                        source=svc.registry.name,
                        summary=summary,
                        now=now,
                    )
                if progress:
                    progress(chunk.size)


def ask(registry: RegistryPort, requests: Sequence[VerifyRequest]) -> list[VerifyResult]:
    """One registry call; any failure becomes that failure's code for every person in it."""
    try:
        return registry.verify(requests)
    except GatewayError as exc:
        code = exc.code
    except Exception as exc:  # a library bug must not stop the run: record and go on
        log.exception("registry call failed unexpectedly", extra={"error_type": type(exc).__name__})
        code = "registry.internal"
    return [VerifyResult(r.ref, False, error_code=code) for r in requests]


def _people(svc: Services, ids: set[int]) -> dict[int, Any]:
    with svc.db.read() as conn:
        return {r.id: r for r in conn.execute(select(*PERSON_COLUMNS).where(person.c.id.in_(ids)))}


def _chunk(
    svc: Services, rows: Sequence[Any], summary: VerifySummary, progress: Progress | None
) -> Chunk:
    people_rows = {r.person_id: r for r in rows}
    todo = [(int(r.id), int(r.person_id)) for r in rows if r.pid_enc is not None]
    legacy = [(int(r.id), int(r.person_id)) for r in rows if r.pid_enc is None]
    if legacy:
        resolved = _resolve_legacy(svc, legacy, summary)
        if progress:
            progress(len(legacy) - len(resolved))
        todo += resolved
        people_rows.update(_people(svc, {p for _, p in resolved}))
    chunk = Chunk([], {})
    for enrollment_id, person_id in todo:
        ref = str(person_id)
        if ref not in chunk.by_ref:
            row = people_rows[person_id]
            chunk.requests.append(
                VerifyRequest(
                    ref=ref,
                    pid=svc.vault.decrypt(row.pid_enc, Purpose.PID),
                    full_name=row.full_name,
                    birth=people.birth_of(row),
                    gender=row.gender,
                )
            )
        chunk.by_ref.setdefault(ref, []).append((enrollment_id, person_id))
    return chunk


def _resolve_legacy(
    svc: Services, todo: Sequence[tuple[int, int]], summary: VerifySummary
) -> list[tuple[int, int]]:
    """Give records that carry only a CMND number their personal ID, through the registry.
    Registry calls happen outside any transaction; each answer is applied in its own."""
    out = []
    for enrollment_id, person_id in todo:
        with svc.db.read() as conn:
            legacy = _legacy_of(svc, conn, person_id)
        try:
            pid = svc.registry.resolve_legacy(legacy) if legacy else None
        except GatewayError as exc:
            summary.count_error(exc.code)
            with svc.db.begin() as conn:
                record_plain(conn, [_plain(svc, enrollment_id, person_id, "error", exc.code)])
            continue
        now = svc.clock()
        with svc.db.begin() as conn:
            target = _apply_legacy(svc, conn, enrollment_id, person_id, pid, summary, now)
        if target is not None:
            out.append((enrollment_id, target))
    return out


def _apply_legacy(
    svc: Services,
    conn: Connection,
    enrollment_id: int,
    person_id: int,
    pid: str | None,
    summary: VerifySummary,
    now: dt.datetime,
) -> int | None:
    from gateway.services.verify_legacy import flag_enrollment, move_enrollment

    if pid is None:
        summary.legacy_unresolved += 1
        flag_enrollment(conn, enrollment_id, FlagKind.LEGACY_UNRESOLVED, {}, now)
        record_plain(
            conn, [_plain(svc, enrollment_id, person_id, "not_found", "legacy.unresolved")]
        )
        return None
    summary.legacy_resolved += 1
    existing = people.find_by_pid(conn, svc.vault, pid)
    if existing is None or existing == person_id:
        people.set_current_pid(conn, svc.vault, person_id, pid, source="registry", now=now)
        return person_id
    if move_enrollment(conn, enrollment_id, person_id, existing, now):
        summary.merged += 1
        return existing
    flag_enrollment(
        conn,
        enrollment_id,
        FlagKind.DUPLICATE_IN_INTAKE,
        {"reason": "legacy CMND resolves to a person already enrolled"},
        now,
    )
    record_plain(conn, [_plain(svc, enrollment_id, person_id, "duplicate", None)])
    return None


def _plain(
    svc: Services, enrollment_id: int, person_id: int, outcome: str, code: str | None
) -> dict[str, Any]:
    return {
        "person_id": person_id,
        "enrollment_id": enrollment_id,
        "outcome": outcome,
        "fields": {},
        "vital_status": None,
        "error_code": code,
        "source": svc.registry.name,
        "checked_at": svc.clock(),
    }


def _legacy_of(svc: Services, conn: Connection, person_id: int) -> str | None:
    enc = conn.execute(
        select(person_identifier.c.value_enc).where(
            person_identifier.c.person_id == person_id, person_identifier.c.kind == "cmnd9"
        )
    ).scalar()
    return None if enc is None else svc.vault.decrypt(enc, Purpose.LEGACY_ID)


# -- runs -----------------------------------------------------------------------------------------


def _start_run(svc: Services, actor: Actor, programme_code: str | None) -> tuple[int, bool]:
    now = svc.clock()
    with svc.db.begin() as conn:
        last = conn.execute(
            select(registry_verify_run.c.status).order_by(registry_verify_run.c.id.desc()).limit(1)
        ).scalar()
        conn.execute(  # a run still "running" was killed: nothing else can be running it
            update(registry_verify_run)
            .where(registry_verify_run.c.status == "running")
            .values(status="interrupted", finished_at=now)
        )
        run_id = conn.execute(
            registry_verify_run.insert()
            .values(
                programme_code=programme_code,
                actor=actor.label(),
                status="running",
                counts={},
                started_at=now,
            )
            .returning(registry_verify_run.c.id)
        ).scalar_one()
        audit.record(
            conn,
            actor,
            "registry.verify",
            "registry_verify_run",
            run_id,
            purpose=f"identity and vital-status check before payment ({programme_code or 'all'})",
            at=now,
        )
    return int(run_id), last in ("running", "failed")


def _finish_run(
    svc: Services, summary: VerifySummary, status: str, error: str | None = None
) -> None:
    counts = {
        k: v for k, v in summary.as_dict().items() if isinstance(v, int | dict) and k != "run_id"
    }
    with svc.db.begin() as conn:
        conn.execute(
            update(registry_verify_run)
            .where(registry_verify_run.c.id == summary.run_id)
            .values(status=status, counts=counts, error=error, finished_at=svc.clock())
        )
