"""``ansinh bench reconcile``: the reconciliation benchmark with its planted-defect check
(gateway/services/recon_bench.py; benchmarks/reconcile.py runs the same)."""

from __future__ import annotations

import sys

import click

from gateway.cli.output import emit_json, table


def register(main: click.Group) -> None:
    main.add_command(bench_group)


@click.group("bench")
def bench_group() -> None:
    """Benchmarks that run inside the gateway process."""


@bench_group.command("reconcile")
@click.option("--approved", type=click.IntRange(1000), default=100_000, show_default=True)
@click.option(
    "--db",
    "db_url",
    help="database URL: a scratch database is created beside it (default: a temporary SQLite file)",
)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="last line: one JSON object")
@click.option("--keep", is_flag=True, help="keep the scratch database")
@click.option("--no-duckdb", is_flag=True, help="skip the DuckDB reference")
def reconcile_bench(
    approved: int, db_url: str | None, seed: int, as_json: bool, keep: bool, no_duckdb: bool
) -> None:
    """Generate N approved entitlements with planted defects, reconcile fully, change 1% and
    reconcile incrementally, check every planted defect was found, compare with DuckDB."""
    from gateway.services.recon_bench import run_bench

    result = run_bench(
        approved,
        db_url,
        seed=seed,
        keep=keep,
        duckdb=not no_duckdb,
        progress=lambda m: click.echo(m, err=True),
    )
    out = result.as_dict()
    if as_json:
        emit_json(out)
    else:
        table(["figure", "value"], [(k, v) for k, v in out.items() if k != "by_type"])
        table(["mismatch type", "found"], sorted(result.by_type.items()))
    if not result.ok:
        sys.exit(1)
