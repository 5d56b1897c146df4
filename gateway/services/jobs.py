"""One run of a scheduled job: claim the trigger, take the job's lock, run, record the outcome.

Exactly one run per trigger, however many scheduler replicas fire it:

1. **Claim.** Every replica computes the same trigger key for a firing (the scheduled fire time
   in UTC, ISO 8601) and inserts ``job_run(job, trigger_key)``; the unique constraint lets one
   insert through. A replica whose insert conflicts lost the trigger and records nothing.
2. **Lock.** The winner then takes the job's database lock, so a trigger never runs while an
   earlier trigger of the same job is still running (on this replica or another): PostgreSQL
   ``pg_try_advisory_lock`` on a connection held for the run (the server drops the lock if the
   process dies); SQLite a ``job_lock`` row with holder and expiry, renewed while the run lasts,
   which another run may take over once it has expired (its holder died). A winner that cannot
   take the lock records ``skipped`` with the reason ``overlap``.
3. **Run and record.** ``job_run`` gets the end time, the counts the job returned, the outcome
   (``succeeded`` / ``failed``) and, on failure, an error text without personal data.

Claiming before locking matters: were the lock taken first, a replica that lost the race for the
lock could record "overlap" for a trigger that the lock holder was about to run itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, func, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from gateway.db.dialect import insert_ignore
from gateway.db.tables import job_lock, job_run
from gateway.errors import GatewayError
from gateway.logs import mask_numbers
from gateway.services.context import Services

log = logging.getLogger("ansinh.jobs")

SUCCEEDED, FAILED, SKIPPED, RUNNING = "succeeded", "failed", "skipped", "running"
INTERRUPTED = "interrupted"  # left "running" by a replica that died; found by a later run
# a live replica takes its lock milliseconds after claiming: a younger "running" row may be one
# between the two, so only older ones are closed as interrupted
CLAIM_GRACE = dt.timedelta(seconds=60)
OVERLAP, MISSED = "overlap", "missed"
# SQLite lock rows: renewed every sixth of this while the run lasts. It bounds how long a dead
# holder blocks the job, and must outlast a renewal held up by another job's long write
# transaction (SQLite has one writer; the renewal waits up to the 30 s busy timeout, then tries
# again at the next beat).
LOCK_TTL_SECONDS = 300
ERROR_CHARS = 500


def trigger_key(scheduled: dt.datetime) -> str:
    """The key every replica derives for the same firing: its scheduled time in UTC."""
    if scheduled.tzinfo is None:
        raise ValueError("a scheduled fire time must carry its time zone")
    return scheduled.astimezone(dt.UTC).isoformat()


def manual_trigger_key(now: dt.datetime) -> str:
    """A hand-triggered run never collides with a scheduled one, nor with another manual run."""
    return f"manual:{now.astimezone(dt.UTC):%Y%m%dT%H%M%S}Z:{uuid.uuid4().hex[:8]}"


def this_host() -> str:
    """``host:pid`` — which replica ran a trigger (job_run.host)."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}"


def error_text(exc: BaseException) -> str:
    """What a failed run records: the code and message for our own errors (written without
    personal data); for anything else the exception type and its first line with long numbers
    masked — and for database errors only the types, because their text carries the statement's
    parameters."""
    if isinstance(exc, GatewayError):
        text = f"{exc.code}: {exc.message}"
    elif isinstance(exc, SQLAlchemyError):
        orig = getattr(exc, "orig", None)
        text = type(exc).__name__ + (f" ({type(orig).__name__})" if orig is not None else "")
    else:
        first = str(exc).splitlines()[0] if str(exc) else ""
        text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return mask_numbers(text)[:ERROR_CHARS]


@dataclass
class RunResult:
    job: str
    trigger_key: str
    claimed: bool  # False: another replica (or an earlier call) already has this trigger
    run_id: int | None = None
    outcome: str | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "trigger_key": self.trigger_key,
            "claimed": self.claimed,
            "run_id": self.run_id,
            "outcome": self.outcome,
            "counts": self.counts,
            "error": self.error,
        }


def claim(
    svc: Services,
    job: str,
    key: str,
    *,
    host: str,
    outcome: str = RUNNING,
    counts: dict[str, Any] | None = None,
    error: str | None = None,
) -> int | None:
    """Insert the run record for (job, trigger); its id, or None if the trigger is taken."""
    now = svc.clock()
    with svc.db.begin() as conn:
        row = conn.execute(
            insert_ignore(conn, job_run)
            .values(
                job=job,
                trigger_key=key,
                started_at=now,
                finished_at=None if outcome == RUNNING else now,
                outcome=outcome,
                counts=counts or {},
                error=error,
                host=host[:120],
            )
            .returning(job_run.c.id)
        ).first()
    return int(row[0]) if row else None


def close_interrupted(
    svc: Services, run_id: int, jobs_: Sequence[str], found_by: str | None = None
) -> int:
    """Runs of ``jobs_`` other than ``run_id`` still marked running are ``interrupted``.

    Called while holding the lock the jobs share: no other run of them can be going, so a row
    still ``running`` belongs to a replica that died (SIGKILL, power loss) before it recorded
    an outcome. What that run did is unknown — it says so, and names what found it."""
    found_by = found_by or f"run {run_id}"
    now, why = svc.clock(), f"its replica stopped before recording an outcome ({found_by})"
    with svc.db.begin() as conn:
        return int(
            conn.execute(
                update(job_run)
                .where(
                    job_run.c.job.in_(list(jobs_)),
                    job_run.c.outcome == RUNNING,
                    job_run.c.id != run_id,
                    job_run.c.started_at < now - CLAIM_GRACE,
                )
                .values(
                    outcome=INTERRUPTED,
                    finished_at=now,
                    error=why,
                )
            ).rowcount
        )


def finish(
    svc: Services, run_id: int, outcome: str, counts: dict[str, Any], error: str | None = None
) -> None:
    with svc.db.begin() as conn:
        conn.execute(
            update(job_run)
            .where(job_run.c.id == run_id)
            .values(finished_at=svc.clock(), outcome=outcome, counts=counts, error=error)
        )


# -- locks ------------------------------------------------------------------------------------


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key per lock name (the same in every process and release)."""
    digest = hashlib.blake2b(f"ansinh.job:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def job_lock_held(
    svc: Services, name: str, holder: str, *, ttl_seconds: int = LOCK_TTL_SECONDS
) -> Iterator[bool]:
    """Yield True while holding the job's lock, False if another run holds it."""
    if svc.db.is_postgres:
        with _advisory_lock(svc, name) as held:
            yield held
    else:
        with _row_lock(svc, name, holder, ttl_seconds) as held:
            yield held


@contextmanager
def _advisory_lock(svc: Services, name: str) -> Iterator[bool]:
    key = advisory_key(name)
    # A connection of its own for the whole run, in autocommit so it is never "idle in
    # transaction"; session-level advisory locks live as long as this session.
    conn = svc.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        try:
            yield held
        finally:
            if held:
                _advisory_unlock(conn, key)
    finally:
        conn.close()


def _advisory_unlock(conn: Connection, key: int) -> None:
    try:
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    except SQLAlchemyError:
        # the session is broken: closing it for good is what releases its locks
        log.warning("advisory unlock failed; discarding the connection", exc_info=True)
        conn.invalidate()


@contextmanager
def _row_lock(svc: Services, name: str, holder: str, ttl_seconds: int) -> Iterator[bool]:
    if not take_row_lock(svc, name, holder, ttl_seconds):
        yield False
        return
    stop = threading.Event()
    beat = threading.Thread(
        target=_heartbeat,
        args=(svc, name, holder, ttl_seconds, stop),
        name=f"lock-heartbeat-{name}",
        daemon=True,
    )
    beat.start()
    try:
        yield True
    finally:
        stop.set()
        beat.join()
        release_row_lock(svc, name, holder)


def take_row_lock(svc: Services, name: str, holder: str, ttl_seconds: int) -> bool:
    """Insert the lock row, or take over one whose holder let it expire (it died)."""
    now = svc.clock()
    expires = now + dt.timedelta(seconds=ttl_seconds)
    with svc.db.begin() as conn:  # BEGIN IMMEDIATE on SQLite: lockers queue, never interleave
        inserted = conn.execute(
            insert_ignore(conn, job_lock)
            .values(name=name, holder=holder, acquired_at=now, expires_at=expires)
            .returning(job_lock.c.name)  # rowcount of ON CONFLICT DO NOTHING is -1 on psycopg
        ).first()
        if inserted is not None:
            return True
        stale = conn.execute(
            select(job_lock.c.holder).where(job_lock.c.name == name, job_lock.c.expires_at < now)
        ).scalar()
        if stale is None:
            return False
        conn.execute(
            update(job_lock)
            .where(job_lock.c.name == name, job_lock.c.expires_at < now)
            .values(holder=holder, acquired_at=now, expires_at=expires)
        )
    log.warning("took over the expired lock of job %s from %s", name, stale)
    return True


def renew_row_lock(svc: Services, name: str, holder: str, ttl_seconds: int) -> bool:
    expires = svc.clock() + dt.timedelta(seconds=ttl_seconds)
    with svc.db.begin() as conn:
        return bool(
            conn.execute(
                update(job_lock)
                .where(job_lock.c.name == name, job_lock.c.holder == holder)
                .values(expires_at=expires)
            ).rowcount
        )


def release_row_lock(svc: Services, name: str, holder: str) -> None:
    with svc.db.begin() as conn:
        conn.execute(delete(job_lock).where(job_lock.c.name == name, job_lock.c.holder == holder))


def _heartbeat(
    svc: Services, name: str, holder: str, ttl_seconds: int, stop: threading.Event
) -> None:
    while not stop.wait(ttl_seconds / 6):
        try:
            if not renew_row_lock(svc, name, holder, ttl_seconds):
                log.error("lock of job %s was taken over while its run was still going", name)
                return
        except SQLAlchemyError:
            log.warning("could not renew the lock of job %s", name, exc_info=True)


# -- one run ------------------------------------------------------------------------------------


def run_once(
    svc: Services,
    job: str,
    fn: Callable[[Services], dict[str, Any]],
    key: str,
    *,
    lock: str | None = None,
    lock_jobs: Sequence[str] = (),
    host: str | None = None,
    ttl_seconds: int = LOCK_TTL_SECONDS,
) -> RunResult:
    """Claim ``key`` for ``job``, take the lock ``lock`` (the job's name by default), run ``fn``
    and record the outcome. Never raises for a failing job: the failure is the run's record.
    ``lock_jobs``: every job sharing that lock (``job`` alone by default) — their runs left
    ``running`` by a dead replica are closed as ``interrupted`` once the lock is held."""
    host = host or this_host()
    run_id = claim(svc, job, key, host=host)
    if run_id is None:
        log.info(
            "job %s trigger %s lost: another replica has it",
            job,
            key,
            extra={"job": job, "trigger_key": key, "claimed": False},
        )
        return RunResult(job, key, claimed=False)
    result = RunResult(job, key, claimed=True, run_id=run_id)
    holder = f"{host}:{run_id}"
    try:
        with job_lock_held(svc, lock or job, holder, ttl_seconds=ttl_seconds) as held:
            if not held:
                result.outcome, result.counts = SKIPPED, {"reason": OVERLAP}
                result.error = f"{OVERLAP}: the previous run of {lock or job} is still going"
            else:
                stale = close_interrupted(svc, run_id, lock_jobs or (job,))
                if stale:
                    log.warning("job %s: %d run(s) left running by a dead replica", job, stale)
                try:
                    counts = fn(svc)
                except Exception as exc:
                    log.exception("job %s trigger %s failed", job, key)
                    result.outcome, result.error = FAILED, error_text(exc)
                else:
                    result.outcome, result.counts = SUCCEEDED, _jsonable(counts or {})
            finish(svc, run_id, result.outcome, result.counts, result.error)
    except SQLAlchemyError as exc:  # the database itself failed: try to say so, never raise
        log.exception("job %s trigger %s: recording the run failed", job, key)
        result.outcome, result.error = FAILED, error_text(exc)
        try:
            finish(svc, run_id, FAILED, result.counts, result.error)
        except SQLAlchemyError:
            log.error("job %s trigger %s left as running: database unavailable", job, key)
    log.log(
        logging.INFO if result.outcome == SUCCEEDED else logging.WARNING,
        "job %s trigger %s %s%s",
        job,
        key,
        result.outcome,
        f" ({result.error})" if result.error else "",
        extra={
            "job": job,
            "trigger_key": key,
            "claimed": True,
            "run_id": run_id,
            "outcome": result.outcome,
            "counts": result.counts,
        },
    )
    return result


def record_missed(
    svc: Services, job: str, key: str, late: dt.timedelta, grace_seconds: int, *, host: str
) -> bool:
    """A trigger that fired later than its grace time is not run; it is recorded ``skipped``
    with the reason ``missed`` (unless another replica already holds the trigger)."""
    seconds = int(late.total_seconds())
    run_id = claim(
        svc,
        job,
        key,
        host=host,
        outcome=SKIPPED,
        counts={"reason": MISSED, "late_seconds": seconds},
        error=f"{MISSED}: fired {seconds} s late, beyond the {grace_seconds} s grace time",
    )
    log.warning(
        "job %s trigger %s missed: %d s late (grace %d s)",
        job,
        key,
        seconds,
        grace_seconds,
        extra={"job": job, "trigger_key": key, "claimed": run_id is not None, "outcome": MISSED},
    )
    return run_id is not None


def _jsonable(counts: dict[str, Any]) -> dict[str, Any]:
    """Counts go into a JSON column: keep numbers, strings, lists and dicts as they are."""
    import json

    return dict(json.loads(json.dumps(counts, default=str)))


# -- reading --------------------------------------------------------------------------------


def last_runs(conn: Connection) -> dict[str, Any]:
    """The most recent run record of every job, by job name."""
    latest = select(func.max(job_run.c.id)).group_by(job_run.c.job)
    rows = conn.execute(select(job_run).where(job_run.c.id.in_(latest))).all()
    return {r.job: r for r in rows}
