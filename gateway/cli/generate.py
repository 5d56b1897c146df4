"""Synthetic data and the whole-cycle demo."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from gateway.cli.context import CliContext, pass_cli
from gateway.cli.output import emit_json, interactive, table


def register(main: click.Group) -> None:
    main.add_command(generate)
    main.add_command(demo)


@click.command()
@click.option("--people", type=click.IntRange(1), default=10_000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--period", default="2026-07", show_default=True)
@click.option(
    "--provinces", default="79,01,48", show_default=True, help="2025 province codes, or 'all'"
)
@click.option("--defect-rate", type=click.FloatRange(0, 0.05), default=0.01, show_default=True)
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("var/generated"), show_default=True
)
@click.option("--json", "as_json", is_flag=True)
def generate(
    people: int,
    seed: int,
    period: str,
    provinces: str,
    defect_rate: float,
    out: Path,
    as_json: bool,
) -> None:
    """Write a population (registry side), provincial lists with planted defects, and the ground
    truth of every defect. Deterministic for a seed."""
    from gateway.generate.files import write_all

    started = time.perf_counter()
    report = write_all(
        out,
        people=people,
        seed=seed,
        period=period,
        provinces=None if provinces == "all" else tuple(provinces.split(",")),
        defect_rate=defect_rate,
    )
    result = {**report.__dict__, "seconds": round(time.perf_counter() - started, 2)}
    if as_json:
        emit_json(result)
    else:
        click.echo(
            f"{people} people, {report.beneficiaries} listed, {len(report.lists)} lists "
            f"in {out} ({result['seconds']} s)"
        )
        table(["defect", "planted"], sorted(report.defects.items()))


@click.command()
@click.option("--people", type=click.IntRange(50), default=5000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--period", default="2026-07", show_default=True)
@click.option("--db", "db_url", help="database URL (default: a fresh SQLite file in the data dir)")
@click.option("--json", "as_json", is_flag=True, help="print the report as one JSON line")
@pass_cli
def demo(
    cli: CliContext, people: int, seed: int, period: str, db_url: str | None, as_json: bool
) -> None:
    """Run the whole cycle (intake → verify → screen → approve → disburse → confirm → tick →
    reconcile) on generated data with in-memory fakes, and check every planted defect."""
    from gateway.bootstrap import build_services
    from gateway.services.demo import build_world, run_demo

    settings = cli.settings
    if db_url is None:
        path = settings.data_dir / f"demo-{seed}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        db_url = f"sqlite:///{path.as_posix()}"
    world = build_world(people, seed, period=period)
    svc = build_services(
        settings.with_(database_url=db_url),
        registry=world.registry,
        payments={"bank": world.bank, "postoffice": world.post},
        welfare=world.welfare,
    )
    steps = [
        "setup",
        "intake",
        "verify",
        "screen",
        "approve",
        "disburse",
        "confirm",
        "tick",
        "reconcile",
    ]
    try:
        if interactive() and not as_json:
            with click.progressbar(
                length=len(steps),
                label="demo",
                file=sys.stderr,
            ) as bar:
                report = run_demo(svc, world, seed=seed, progress=lambda _s: bar.update(1))
        else:
            report = run_demo(svc, world, seed=seed)
    finally:
        svc.close()
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        _print(report)
    if not report.ok:
        raise SystemExit(1)


def _print(report: Any) -> None:
    r = report.__dict__
    click.echo(
        f"people {r['people']}, seed {r['seed']}, period {r['period']}, "
        f"rows listed {r['rows_listed']}, database {r['database']}"
    )
    table(["enrollment state", "count"], sorted(r["enrollments"].items()))
    table(["flag", "count"], sorted(r["flags"].items()))
    table(["open case", "count"], sorted(r["cases"].items()))
    table(["quarantine rule", "rows"], sorted(r["quarantine"].items()))
    table(
        ["amount (VND)", "total"],
        [(k, f"{v:,}".replace(",", ".")) for k, v in r["amounts"].items()],
    )
    table(
        ["planted defect", "expected", "found"],
        [(k, v["expected"], v["found"]) for k, v in r["defects"].items()],
    )
    table(["step", "seconds"], r["timings"].items())
