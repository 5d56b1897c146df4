"""Run records, claims and locks of scheduled jobs (gateway.services.jobs, schedules.runner), on
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from gateway.db.tables import job_lock, job_run
from gateway.errors import GatewayError
from gateway.services import jobs
from gateway.services.context import Services
from schedules.runner import Runner, next_fire, trigger_for
from schedules.spec import JobSpec

T0 = dt.datetime(2026, 11, 22, 22, 0, tzinfo=dt.UTC)


def _runs(svc: Services, job: str) -> list[Any]:
    with svc.db.read() as conn:
        return list(
            conn.execute(select(job_run).where(job_run.c.job == job).order_by(job_run.c.id))
        )


def _dead_claim(svc: Services, job: str) -> int:
    """A run claimed ten minutes ago by a replica that then died (no outcome, no lock)."""
    with svc.db.begin() as conn:
        return int(
            conn.execute(
                insert(job_run)
                .values(
                    job=job,
                    trigger_key=f"dead:{job}",
                    started_at=svc.clock() - dt.timedelta(minutes=10),
                    outcome="running",
                    counts={},
                    host="dead-host",
                )
                .returning(job_run.c.id)
            ).scalar_one()
        )


def _counter() -> tuple[list[int], Any]:
    calls: list[int] = []

    def fn(svc: Services) -> dict[str, Any]:
        calls.append(1)
        return {"done": len(calls)}

    return calls, fn


def test_trigger_key_is_the_scheduled_time_in_utc_whatever_the_zone() -> None:
    ict = dt.timezone(dt.timedelta(hours=7))
    assert jobs.trigger_key(T0) == jobs.trigger_key(T0.astimezone(ict))
    assert jobs.trigger_key(T0) == "2026-11-22T22:00:00+00:00"
    with pytest.raises(ValueError):
        jobs.trigger_key(T0.replace(tzinfo=None))
    manual = jobs.manual_trigger_key(T0)
    assert manual.startswith("manual:20261122T220000Z:")
    assert manual != jobs.manual_trigger_key(T0) and len(manual) <= 64


def test_replicas_started_at_different_times_compute_the_same_fire_times() -> None:
    spec = JobSpec("x", "", lambda svc: {}, interval_seconds=300)
    a = next_fire(spec, T0 + dt.timedelta(seconds=0.4))
    b = next_fire(spec, T0 + dt.timedelta(seconds=171.9))
    assert a == b == T0 + dt.timedelta(seconds=300)
    fast = next_fire(spec, T0 + dt.timedelta(seconds=0.4), every=1)
    assert fast == T0 + dt.timedelta(seconds=1)
    daily = JobSpec("y", "", lambda svc: {}, cron="30 1 * * *")
    # 01:30 in Vietnam (UTC+7) is 18:30 UTC the day before
    assert next_fire(daily, T0) == dt.datetime(2026, 11, 23, 18, 30, tzinfo=dt.UTC)
    with pytest.raises(ValueError):
        trigger_for(JobSpec("z", "", lambda svc: {}))


def test_two_claims_of_one_trigger_one_wins(svc: Services) -> None:
    key = jobs.trigger_key(T0)
    first = jobs.claim(svc, "demo.job", key, host="a:1")
    second = jobs.claim(svc, "demo.job", key, host="b:2")
    assert first is not None and second is None
    assert jobs.claim(svc, "other.job", key, host="b:2") is not None  # keys are per job
    # the constraint itself, not the Python path, decides
    with pytest.raises(IntegrityError), svc.db.begin() as conn:
        conn.execute(
            insert(job_run).values(
                job="demo.job", trigger_key=key, started_at=T0, outcome="running", counts={}
            )
        )


def test_concurrent_replicas_run_a_trigger_once(svc: Services) -> None:
    calls, fn = _counter()
    key = jobs.trigger_key(T0)
    barrier = threading.Barrier(4)
    results: list[jobs.RunResult] = []

    def replica(i: int) -> None:
        barrier.wait()
        results.append(jobs.run_once(svc, "demo.job", fn, key, host=f"replica:{i}"))

    threads = [threading.Thread(target=replica, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert sorted(r.claimed for r in results) == [False, False, False, True]
    (row,) = _runs(svc, "demo.job")
    assert (row.outcome, row.counts, row.error) == ("succeeded", {"done": 1}, None)
    assert row.finished_at is not None and row.finished_at >= row.started_at


def test_a_trigger_during_a_running_run_is_skipped_for_overlap(svc: Services) -> None:
    started, release = threading.Event(), threading.Event()

    def slow(svc: Services) -> dict[str, Any]:
        started.set()
        assert release.wait(30)
        return {"slow": 1}

    first = threading.Thread(
        target=jobs.run_once, args=(svc, "demo.slow", slow, "t1"), kwargs={"host": "a:1"}
    )
    first.start()
    try:
        assert started.wait(30)
        calls, fn = _counter()
        second = jobs.run_once(svc, "demo.slow", fn, "t2", host="b:2")
    finally:
        release.set()
        first.join()
    assert second.claimed and second.outcome == "skipped" and not calls
    assert second.counts == {"reason": "overlap"}
    by_key = {r.trigger_key: r for r in _runs(svc, "demo.slow")}
    assert by_key["t1"].outcome == "succeeded"
    assert by_key["t2"].outcome == "skipped" and by_key["t2"].error.startswith("overlap")
    # once the first run finished its lock is free again
    assert jobs.run_once(svc, "demo.slow", fn, "t3").outcome == "succeeded"


def test_jobs_sharing_a_lock_do_not_overlap(svc: Services) -> None:
    calls, fn = _counter()
    with jobs.job_lock_held(svc, "reconcile", "test:1") as held:
        assert held
        skipped = jobs.run_once(svc, "reconcile.full", fn, "k1", lock="reconcile")
        other = jobs.run_once(svc, "unrelated", fn, "k1")
    assert skipped.outcome == "skipped" and other.outcome == "succeeded"
    assert jobs.run_once(svc, "reconcile.full", fn, "k2", lock="reconcile").outcome == ("succeeded")
    assert len(calls) == 2  # the unrelated job and the second reconcile, not the skipped one


def test_lock_row_expires_and_is_taken_over(svc: Services) -> None:
    """The SQLite lock (a job_lock row): a live holder keeps it, a dead one's expires."""
    now = svc.clock()
    with svc.db.begin() as conn:
        conn.execute(
            insert(job_lock).values(
                name="demo.job",
                holder="dead-host:1:9",
                acquired_at=now - dt.timedelta(minutes=10),
                expires_at=now - dt.timedelta(minutes=8),
            )
        )
    assert jobs.take_row_lock(svc, "demo.job", "live:2:10", 60)
    assert not jobs.take_row_lock(svc, "demo.job", "late:3:11", 60)  # not expired: held
    assert jobs.renew_row_lock(svc, "demo.job", "live:2:10", 60)
    assert not jobs.renew_row_lock(svc, "demo.job", "dead-host:1:9", 60)  # lost it
    jobs.release_row_lock(svc, "demo.job", "late:3:11")  # not the holder: no effect
    assert not jobs.take_row_lock(svc, "demo.job", "late:3:11", 60)
    jobs.release_row_lock(svc, "demo.job", "live:2:10")
    assert jobs.take_row_lock(svc, "demo.job", "late:3:11", 60)


def test_run_takes_over_a_stale_lock_left_by_a_dead_replica(svc: Services) -> None:
    now = svc.clock()
    if not svc.db.is_postgres:  # PostgreSQL's advisory lock dies with its session instead
        with svc.db.begin() as conn:
            conn.execute(
                insert(job_lock).values(
                    name="demo.job",
                    holder="dead-host:1:9",
                    acquired_at=now - dt.timedelta(minutes=10),
                    expires_at=now - dt.timedelta(minutes=8),
                )
            )
    calls, fn = _counter()
    assert jobs.run_once(svc, "demo.job", fn, "k").outcome == "succeeded" and calls
    with svc.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(job_lock)).scalar_one() == 0


def test_failed_run_records_the_error_without_personal_numbers(svc: Services) -> None:
    def boom(svc: Services) -> dict[str, Any]:
        raise ValueError("person 079050000101 has no account\nsecond line")

    result = jobs.run_once(svc, "demo.boom", boom, "k1")
    assert result.outcome == "failed"
    (row,) = _runs(svc, "demo.boom")
    assert row.outcome == "failed" and row.finished_at is not None
    assert row.error == "ValueError: person 079*******01 has no account"
    # the lock was released: the next trigger runs
    assert jobs.run_once(svc, "demo.boom", boom, "k2").claimed


def test_database_errors_record_only_their_types(svc: Services) -> None:
    def bad_sql(svc: Services) -> dict[str, Any]:
        with svc.db.begin() as conn:
            conn.execute(
                insert(job_run).values(
                    job="x", trigger_key="k", started_at=T0, outcome="running", counts={}
                )
            )
            conn.execute(
                insert(job_run).values(
                    job="x", trigger_key="k", started_at=T0, outcome="Nguyễn", counts={}
                )
            )
        return {}

    jobs.run_once(svc, "demo.sql", bad_sql, "k1")
    (row,) = _runs(svc, "demo.sql")
    assert row.outcome == "failed" and row.error.startswith("IntegrityError (")
    assert "Nguy" not in row.error and "INSERT" not in row.error


def test_a_firing_later_than_its_grace_is_recorded_as_missed(svc: Services) -> None:
    calls, fn = _counter()
    spec = JobSpec("demo.grace", "", fn, interval_seconds=60, misfire_grace_seconds=30)
    runner = Runner(svc, {spec.name: spec}, host="me:1")
    now = svc.clock()
    late = now.replace(microsecond=0) - dt.timedelta(minutes=5)
    assert runner.fire(spec.name, scheduled=late) is None
    on_time = runner.fire(spec.name, scheduled=now.replace(microsecond=0))
    assert on_time is not None and on_time.outcome == "succeeded"
    assert len(calls) == 1
    missed, ran = _runs(svc, "demo.grace")
    assert (missed.trigger_key, missed.outcome) == (jobs.trigger_key(late), "skipped")
    assert missed.counts["reason"] == "missed" and missed.counts["late_seconds"] >= 300
    assert missed.error.startswith("missed:") and ran.outcome == "succeeded"


def test_manual_runs_use_their_own_key_and_the_same_lock(svc: Services) -> None:
    calls, fn = _counter()
    spec = JobSpec("demo.manual", "", fn, interval_seconds=60)
    runner = Runner(svc, {spec.name: spec})
    first, second = runner.run_now(spec.name), runner.run_now(spec.name)
    assert first.outcome == second.outcome == "succeeded" and len(calls) == 2
    assert first.trigger_key != second.trigger_key
    assert first.trigger_key.startswith("manual:")
    with jobs.job_lock_held(svc, spec.name, "other:1") as held:
        assert held and runner.run_now(spec.name).outcome == "skipped"


def test_a_failing_job_never_stops_the_scheduler(svc: Services) -> None:
    calls, ok = _counter()

    def boom(svc: Services) -> dict[str, Any]:
        raise RuntimeError("always")

    specs = {
        "demo.boom": JobSpec("demo.boom", "", boom, interval_seconds=3600),
        "demo.ok": JobSpec("demo.ok", "", ok, cron="0 3 * * *"),
    }
    runner = Runner(svc, specs, every={"demo.boom": 1, "demo.ok": 1})
    scheduler = runner.scheduler()
    scheduler.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            failed = [r for r in _runs(svc, "demo.boom") if r.outcome == "failed"]
            if len(failed) >= 3 and len(calls) >= 3:
                break
            time.sleep(0.2)
    finally:
        scheduler.shutdown(wait=True)
    assert len(failed) >= 3 and len(calls) >= 3
    assert {r.error for r in failed} == {"RuntimeError: always"}
    keys = [r.trigger_key for r in failed]
    assert len(set(keys)) == len(keys)
    assert all(r.outcome == "succeeded" for r in _runs(svc, "demo.ok"))


def test_our_own_errors_are_recorded_by_code_and_message(svc: Services) -> None:
    def unavailable(svc: Services) -> dict[str, Any]:
        raise GatewayError(
            "registry did not answer", "cơ sở dữ liệu không trả lời", code="registry.unavailable"
        )

    assert jobs.run_once(svc, "demo.gw", unavailable, "k").error == (
        "registry.unavailable: registry did not answer"
    )
    (row,) = _runs(svc, "demo.gw")
    assert row.error == "registry.unavailable: registry did not answer"


def test_a_scheduler_waking_late_records_the_missed_trigger_once(svc: Services) -> None:
    """Through APScheduler: a job whose due time passed long ago (a suspended host) is not
    run on waking; coalesced into one firing, it is recorded as missed."""
    calls, fn = _counter()
    spec = JobSpec("demo.late", "", fn, interval_seconds=3600, misfire_grace_seconds=60)
    scheduler = Runner(svc, {spec.name: spec}).scheduler()
    scheduler.start(paused=True)
    due = svc.clock().replace(microsecond=0) - dt.timedelta(minutes=10)
    try:
        scheduler.modify_job(spec.name, next_run_time=due - dt.timedelta(hours=2))
        scheduler.resume()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _runs(svc, spec.name):
            time.sleep(0.1)
    finally:
        scheduler.shutdown(wait=True)
    (row,) = _runs(svc, spec.name)  # three due times (−2 h 10, −1 h 10, −10 min): one record
    assert row.outcome == "skipped" and row.counts["reason"] == "missed"
    assert row.trigger_key == jobs.trigger_key(due) and not calls


def test_a_run_left_running_by_a_dead_replica_is_closed_as_interrupted(svc: Services) -> None:
    # a replica claimed a trigger of the reconciliation group, then was killed (no outcome)
    dead = _dead_claim(svc, "reconcile.incremental")
    elsewhere = _dead_claim(svc, "unrelated.job")
    just_claimed = jobs.claim(svc, "reconcile.full", "next-trigger", host="live-host")
    calls, fn = _counter()
    result = jobs.run_once(
        svc,
        "reconcile.full",
        fn,
        "k1",
        lock="reconcile",
        lock_jobs=("reconcile.full", "reconcile.incremental"),
    )
    assert result.outcome == "succeeded" and calls
    with svc.db.read() as conn:
        rows = {r.id: r for r in conn.execute(select(job_run))}
    assert rows[dead].outcome == "interrupted" and rows[dead].finished_at is not None
    assert f"run {result.run_id}" in rows[dead].error
    # a job outside the lock group may still be running: it is left alone
    assert rows[elsewhere].outcome == "running" and rows[elsewhere].finished_at is None
    # so is a claim made a moment ago: its replica may be about to take the lock
    assert rows[just_claimed].outcome == "running"
    assert rows[result.run_id].outcome == "succeeded"


def test_the_runner_closes_interrupted_runs_of_its_lock_group(svc: Services) -> None:
    calls, fn = _counter()
    specs = {
        "reconcile.full": JobSpec("reconcile.full", "", fn, cron="0 2 * * *", lock="reconcile"),
        "reconcile.incremental": JobSpec(
            "reconcile.incremental", "", fn, cron="5 * * * *", lock="reconcile"
        ),
    }
    dead = _dead_claim(svc, "reconcile.full")
    result = Runner(svc, specs, host="live:1").run_now("reconcile.incremental")
    assert result.outcome == "succeeded" and calls
    assert {r.id: r.outcome for r in _runs(svc, "reconcile.full")}[dead] == "interrupted"


def test_a_scheduler_starting_closes_runs_left_by_a_dead_replica(svc: Services) -> None:
    _calls, fn = _counter()
    specs = {
        "demo.idle": JobSpec("demo.idle", "", fn, cron="0 2 * * *"),
        "demo.busy": JobSpec("demo.busy", "", fn, cron="0 3 * * *"),
    }
    dead = _dead_claim(svc, "demo.idle")
    live = _dead_claim(svc, "demo.busy")
    # demo.busy is really running elsewhere: its lock is held
    with jobs.job_lock_held(svc, "demo.busy", "live-host:1") as held:
        assert held
        assert Runner(svc, specs, host="starting:1").sweep_interrupted() == 1
    with svc.db.read() as conn:
        rows = {r.id: r for r in conn.execute(select(job_run))}
    assert (
        rows[dead].outcome == "interrupted" and "scheduler start on starting:1" in rows[dead].error
    )
    assert rows[live].outcome == "running"
    with svc.db.read() as conn:  # the sweep released the locks it took
        assert conn.execute(select(func.count()).select_from(job_lock)).scalar_one() == 0
