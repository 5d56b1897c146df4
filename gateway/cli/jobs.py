"""``ansinh scheduler`` (run the scheduled jobs in the foreground) and ``ansinh jobs list / run /
runs / dead-letters / retry-dead`` (what is scheduled, trigger one by hand, recent run records,
the outbox's dead letters). docs/scheduling.md."""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
from typing import Any

import click

from gateway.cli.context import CliContext, pass_cli
from gateway.cli.output import emit_json, table

EXIT_FAILED, EXIT_SKIPPED = 1, 75  # 75 = EX_TEMPFAIL: another run holds the lock, try later


def register(main: click.Group) -> None:
    main.add_command(scheduler)
    main.add_command(jobs_group)


def _specs(only: tuple[str, ...] = ()) -> dict[str, Any]:
    from schedules.spec import discover

    specs = discover()
    unknown = sorted(set(only) - set(specs))
    if unknown:
        raise click.ClickException(f"no such job: {', '.join(unknown)} (see `ansinh jobs list`)")
    return {n: s for n, s in specs.items() if not only or n in only}


@click.command()
@click.option("--only", multiple=True, metavar="NAME", help="run only these jobs (repeatable)")
@click.option(
    "--every",
    type=click.IntRange(min=1),
    metavar="SECONDS",
    help="run the --only jobs at this interval instead of their own schedule "
    "(testing, catching up by hand; logged as an override)",
)
@pass_cli
def scheduler(cli: CliContext, only: tuple[str, ...], every: int | None) -> None:
    """Run the scheduled jobs in the foreground until SIGTERM or SIGINT (Ctrl-C); running jobs
    finish before it exits. Start as many replicas as you like: each trigger runs once."""
    from gateway import logs
    from schedules.runner import Runner

    if every is not None and not only:
        raise click.UsageError("--every needs --only: it never changes every job's schedule")
    specs = _specs(only)
    settings = cli.settings
    logs.configure(settings.log_level, json_output=settings.log_json)
    runner = Runner(cli.services, specs, every={n: every for n in specs} if every else None)
    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        if stop.is_set():  # a second signal: do not wait for running jobs any longer
            os._exit(128 + signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    runner.serve(stop)


@click.group("jobs")
def jobs_group() -> None:
    """Scheduled jobs: what is scheduled, run one now, recent runs."""


@jobs_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def list_jobs(cli: CliContext, as_json: bool) -> None:
    """Every job: schedule, next fire time, outcome of its last run."""
    from gateway.services import jobs
    from schedules.runner import next_fire

    specs = _specs()
    svc = cli.services
    now = svc.clock()
    with svc.db.read() as conn:
        last = jobs.last_runs(conn)
    out = []
    for name, spec in sorted(specs.items()):
        run = last.get(name)
        fire = next_fire(spec, now)
        out.append(
            {
                "name": name,
                "schedule": spec.schedule,
                "lock": spec.lock_name,
                "misfire_grace_seconds": spec.misfire_grace_seconds,
                "next_fire": fire.astimezone(dt.UTC).isoformat() if fire else None,
                "last_outcome": run.outcome if run else None,
                "last_trigger": run.trigger_key if run else None,
                "last_started": _iso(run.started_at) if run else None,
                "description": spec.description,
            }
        )
    if as_json:
        emit_json(out)
        return
    table(
        ["job", "schedule", "next fire (UTC)", "last outcome", "last started"],
        [
            (j["name"], j["schedule"], j["next_fire"], j["last_outcome"], j["last_started"])
            for j in out
        ],
    )


@jobs_group.command("run")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def run_job(cli: CliContext, name: str, as_json: bool) -> None:
    """Run one job now (trigger key ``manual:…``), under the same lock as scheduled runs.
    Exit 1 if it failed, 75 if skipped because another run of it is still going."""
    from schedules.runner import Runner

    runner = Runner(cli.services, _specs((name,)))
    result = runner.run_now(name)
    if as_json:
        emit_json(result.as_dict())
    else:
        click.echo(f"{name} {result.trigger_key}: {result.outcome} (run {result.run_id})")
        for key, value in result.counts.items():
            click.echo(f"  {key}: {value}")
        if result.error:
            click.echo(f"  error: {result.error}")
    if result.outcome == "failed":
        click.get_current_context().exit(EXIT_FAILED)
    if result.outcome == "skipped":
        click.get_current_context().exit(EXIT_SKIPPED)


@jobs_group.command("runs")
@click.option("--job", "job_name", metavar="NAME", help="only this job")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def runs(cli: CliContext, job_name: str | None, limit: int, as_json: bool) -> None:
    """Recent run records, newest first."""
    from gateway.security.principal import Actor
    from gateway.services.workspace import ops

    svc = cli.services
    with svc.db.read() as conn:
        rows, _ = ops.job_runs(conn, Actor.system("cli"), job=job_name, limit=limit)
    out = [
        {
            "id": r.id,
            "job": r.job,
            "trigger_key": r.trigger_key,
            "started_at": _iso(r.started_at),
            "finished_at": _iso(r.finished_at),
            "outcome": r.outcome,
            "counts": r.counts,
            "error": r.error,
            "host": r.host,
        }
        for r in rows
    ]
    if as_json:
        emit_json(out)
        return
    table(
        ["id", "job", "trigger", "started", "finished", "outcome", "host", "error"],
        [
            (
                r["id"],
                r["job"],
                r["trigger_key"],
                r["started_at"],
                r["finished_at"],
                r["outcome"],
                r["host"],
                (r["error"] or "")[:80],
            )
            for r in out
        ],
    )


@jobs_group.command("dead-letters")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def dead_letters(cli: CliContext, as_json: bool) -> None:
    """Outbox messages that failed for good (also at /ops/dead-letters)."""
    from gateway.security.principal import Actor
    from gateway.services.workspace import ops

    svc = cli.services
    out: list[dict[str, Any]] = []
    after = 0
    with svc.db.read() as conn:
        while True:
            rows, nxt = ops.dead_letters(conn, Actor.system("cli"), after_id=after, limit=500)
            out += [
                {
                    "id": r.id,
                    "topic": r.topic,
                    "dedup_key": r.dedup_key,
                    "attempts": r.attempts,
                    "last_error": r.last_error,
                    "created_at": _iso(r.created_at),
                }
                for r in rows
            ]
            if nxt is None:
                break
            after = nxt
    if as_json:
        emit_json(out)
        return
    table(
        ["id", "topic", "key", "attempts", "created", "last error"],
        [
            (d["id"], d["topic"], d["dedup_key"], d["attempts"], d["created_at"], d["last_error"])
            for d in out
        ],
    )


@jobs_group.command("retry-dead")
@click.argument("message_id", type=int)
@pass_cli
def retry_dead(cli: CliContext, message_id: int) -> None:
    """Put one dead letter back in the outbox queue (audited); the next ``outbox.dispatch``
    delivers it."""
    from gateway.errors import GatewayError
    from gateway.security.principal import Actor
    from gateway.services.workspace import ops

    try:
        ops.retry_dead_letter(cli.services, Actor.system("cli"), message_id)
    except GatewayError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from None
    click.echo(f"message {message_id} queued again")


def _iso(value: Any) -> str | None:
    """Stored times are UTC (SQLite hands them back without a zone)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat()
    return str(value)
