"""``ansinh reconcile run [--incremental] [--json]``: one reconciliation run by hand (the
scheduler runs the same function on its cron)."""

from __future__ import annotations

import click

from gateway.cli.context import CliContext, pass_cli
from gateway.cli.output import emit_json, table


def register(main: click.Group) -> None:
    main.add_command(reconcile_group)


@click.group("reconcile")
def reconcile_group() -> None:
    """Reconciliation of entitlements, payments, confirmations, registry and ticks."""


@reconcile_group.command("run")
@click.option(
    "--incremental",
    is_flag=True,
    help="re-check only what changed since the last successful run's watermark",
)
@click.option("--json", "as_json", is_flag=True, help="print the run's figures as one JSON line")
@pass_cli
def run(cli: CliContext, incremental: bool, as_json: bool) -> None:
    """Compare everything, open a case per new mismatch, close cases whose cause is gone."""
    from gateway.services import reconcile

    summary = reconcile.run(cli.services, kind="incremental" if incremental else "full")
    counts = summary.as_counts()
    if as_json:
        emit_json(counts)
        return
    scope = "everything" if summary.scope is None else f"{summary.scope} entitlements"
    click.echo(
        f"run {summary.run_id} ({summary.kind}, {scope}) in {counts['seconds']} s: "
        f"{summary.opened} opened, {summary.still_open} still open, {summary.closed} closed"
    )
    table(["mismatch type", "found"], sorted(summary.by_type.items()))
