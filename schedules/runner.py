"""The scheduler: every ``JobSpec`` of ``discover()`` on APScheduler 3, each firing run through
``gateway.services.jobs`` (claim the trigger, take the job's database lock, record the run).

* **Trigger keys agree across replicas.** A firing's key is its *scheduled* fire time in UTC,
  never the wall clock. Interval triggers are anchored at 2000-01-01T00:00:00Z, so every replica
  computes the same grid whenever it started; cron expressions are read in Vietnam time
  (Asia/Ho_Chi_Minh, UTC+7, no daylight saving).
* **Misfires.** ``coalesce=True`` (a scheduler that wakes late runs a job once, for the latest
  due time, not once per missed time) and ``misfire_grace_time`` from the spec: a firing that
  starts later than that is not run; it is recorded ``skipped`` with the reason ``missed``.
* **Overlap.** Up to ``MAX_INSTANCES`` firings of a job may be in flight in one process so that
  a firing during a long run reaches the database lock and is *recorded* as skipped (overlap)
  rather than only logged by APScheduler.
* **Failures** are the run's record (``failed`` with the error); nothing a job raises reaches
  the scheduler thread.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import threading
import traceback
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import SQLAlchemyError

from gateway.services import jobs
from gateway.services.context import Services
from schedules.spec import JobSpec

log = logging.getLogger("ansinh.scheduler")

INTERVAL_ANCHOR = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
CRON_TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")
MAX_INSTANCES = 3


def trigger_for(spec: JobSpec, every: int | None = None) -> BaseTrigger:
    """The APScheduler trigger of a spec; ``every`` replaces its schedule by an interval."""
    if every is not None:
        if every < 1:
            raise ValueError("an interval must be at least one second")
        return IntervalTrigger(seconds=every, start_date=INTERVAL_ANCHOR, timezone=dt.UTC)
    if spec.cron:
        return CronTrigger.from_crontab(spec.cron, timezone=CRON_TIMEZONE)
    if spec.interval_seconds:
        return IntervalTrigger(
            seconds=spec.interval_seconds, start_date=INTERVAL_ANCHOR, timezone=dt.UTC
        )
    raise ValueError(f"job {spec.name} has neither a cron expression nor an interval")


def next_fire(spec: JobSpec, now: dt.datetime, every: int | None = None) -> dt.datetime | None:
    fire: dt.datetime | None = trigger_for(spec, every).get_next_fire_time(None, now)
    return fire


class TriggerExecutor(ThreadPoolExecutor):
    """A thread pool that hands each firing's scheduled time to the job function.

    APScheduler's own ``run_job`` calls the function without it, and applies the grace time
    itself; here the runner does both, so the trigger key is the scheduled time and a missed
    firing becomes a run record."""

    def _do_submit_job(self, job: Job, run_times: list[dt.datetime]) -> None:
        def done(future: Any) -> None:
            exc = future.exception()
            if exc is not None:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, future.result())

        future = self._pool.submit(_run_firings, job, job._jobstore_alias, list(run_times))
        future.add_done_callback(done)


def _run_firings(job: Job, jobstore: str, run_times: list[dt.datetime]) -> list[Any]:
    events: list[Any] = []
    for run_time in run_times:
        try:
            job.func(*job.args, scheduled=run_time)
        except BaseException as exc:  # the runner catches; this is the last line of defence
            log.exception("job %s: firing failed outside the runner", job.id)
            events.append(
                JobExecutionEvent(
                    EVENT_JOB_ERROR,
                    job.id,
                    jobstore,
                    run_time,
                    exception=exc,
                    traceback="".join(traceback.format_tb(exc.__traceback__)),
                )
            )
        else:
            events.append(JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, jobstore, run_time))
    return events


class Runner:
    """The jobs of one scheduler process (or of one hand-triggered run)."""

    def __init__(
        self,
        svc: Services,
        specs: Mapping[str, JobSpec],
        *,
        every: Mapping[str, int] | None = None,
        host: str | None = None,
    ) -> None:
        self.svc = svc
        self.specs = dict(specs)
        self.every = dict(every or {})
        self.host = host or jobs.this_host()
        unknown = set(self.every) - set(self.specs)
        if unknown:
            raise ValueError(f"--every names jobs that are not scheduled: {sorted(unknown)}")

    def fire(self, name: str, scheduled: dt.datetime | None = None) -> jobs.RunResult | None:
        """One scheduled firing: recorded as missed beyond the grace time, run otherwise.
        Never raises (a scheduler must outlive its jobs and its database's bad minutes).
        ``scheduled`` is always given (by ``TriggerExecutor``); it defaults only so that
        APScheduler accepts the function without it in ``add_job``."""
        spec = self.specs[name]
        try:
            if scheduled is None:
                raise ValueError("a firing needs its scheduled time")
            key = jobs.trigger_key(scheduled)
            late = self.svc.clock() - scheduled
            if late > dt.timedelta(seconds=spec.misfire_grace_seconds):
                jobs.record_missed(
                    self.svc, name, key, late, spec.misfire_grace_seconds, host=self.host
                )
                return None
            return self._run(name, key)
        except Exception:
            log.exception("job %s: firing at %s could not be handled", name, scheduled)
            return None

    def run_now(self, name: str) -> jobs.RunResult:
        """A hand-triggered run: its own trigger key, the same claim and lock as a firing."""
        return self._run(name, jobs.manual_trigger_key(self.svc.clock()))

    def _run(self, name: str, key: str) -> jobs.RunResult:
        spec = self.specs[name]
        group = sorted(n for n, s in self.specs.items() if s.lock_name == spec.lock_name)
        return jobs.run_once(
            self.svc, name, spec.fn, key, lock=spec.lock_name, lock_jobs=group, host=self.host
        )

    def scheduler(self) -> BackgroundScheduler:
        workers = max(4, 2 * len(self.specs))
        scheduler = BackgroundScheduler(
            executors={"default": TriggerExecutor(max_workers=workers)}, timezone=dt.UTC
        )
        for name, spec in sorted(self.specs.items()):
            every = self.every.get(name)
            if every is not None:
                log.warning(
                    "job %s runs every %d s instead of %s (--every override)",
                    name,
                    every,
                    spec.schedule,
                )
            scheduler.add_job(
                self.fire,
                trigger_for(spec, every),
                args=[name],
                id=name,
                name=name,
                misfire_grace_time=spec.misfire_grace_seconds,
                coalesce=True,
                max_instances=MAX_INSTANCES,
            )
        return scheduler

    def sweep_interrupted(self) -> int:
        """At start: for each lock group whose lock is free, runs still marked ``running`` were
        left by a replica that died — close them as ``interrupted`` now, rather than at the
        group's next trigger (which may be a day away). A group whose lock is held is running
        somewhere and is left alone."""
        closed = 0
        for lock in sorted({spec.lock_name for spec in self.specs.values()}):
            group = sorted(n for n, s in self.specs.items() if s.lock_name == lock)
            with jobs.job_lock_held(self.svc, lock, f"{self.host}:sweep") as held:
                if held:
                    found_by = f"scheduler start on {self.host}"
                    closed += jobs.close_interrupted(self.svc, 0, group, found_by)
        if closed:
            log.warning("%d run(s) left running by a dead replica closed as interrupted", closed)
        return closed

    def serve(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set, then let running jobs finish (their locks are released
        and their records written) before returning."""
        try:
            self.sweep_interrupted()
        except SQLAlchemyError:  # a database outage must not keep the scheduler from starting
            log.warning("could not sweep interrupted runs at start", exc_info=True)
        scheduler = self.scheduler()
        scheduler.start()
        log.info(
            "scheduler started",
            extra={"host": self.host, "jobs": sorted(self.specs)},
        )
        while not stop.wait(0.5):
            pass
        log.info("scheduler stopping: waiting for running jobs", extra={"host": self.host})
        scheduler.shutdown(wait=True)
        log.info("scheduler stopped", extra={"host": self.host})
        sys.stderr.flush()
