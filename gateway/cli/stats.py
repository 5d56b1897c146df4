"""``ansinh stats snapshot`` (take today's statistics snapshot) and ``ansinh stats show``
(read the latest one for a unit, programme and period, with the areas one level below)."""

from __future__ import annotations

import click

from gateway.cli.context import CliContext, pass_cli
from gateway.cli.output import emit_json, table
from gateway.errors import GatewayError


def register(main: click.Group) -> None:
    main.add_command(stats_group)


@click.group("stats")
def stats_group() -> None:
    """Statistics snapshots per admin unit and programme (docs/statistics.md)."""


@stats_group.command("snapshot")
@click.option("--json", "as_json", is_flag=True, help="print the counts as one JSON line")
@pass_cli
def snapshot_command(cli: CliContext, as_json: bool) -> None:
    """Take today's snapshot (UTC day); re-running the same day replaces it."""
    from gateway.services import stats

    counts = stats.snapshot(cli.services)
    if as_json:
        emit_json(counts)
        return
    table(["figure", "value"], sorted(counts.items()))


@stats_group.command("show")
@click.option("--unit", help="[scheme:]code of a province, district or commune (default: country)")
@click.option("--programme", "--program", "programme", help="programme code (default: all)")
@click.option("--period", help="YYYY-MM or ONCE (default: all periods)")
@click.option("--json", "as_json", is_flag=True, help="print the figures as one JSON line")
@pass_cli
def show_command(
    cli: CliContext, unit: str | None, programme: str | None, period: str | None, as_json: bool
) -> None:
    """The latest snapshot's figures (run by the system: no scope limit on the command line)."""
    from gateway.security.principal import Actor
    from gateway.services import stats

    svc = cli.services
    try:
        with svc.db.read() as conn:
            unit_id, programme_id = stats.resolve_filters(conn, unit, programme)
            view = stats.read(conn, Actor.system("cli:stats"), unit_id, programme_id, period)
    except GatewayError as exc:
        raise click.ClickException(f"{exc.message}\n{exc.message_vi}") from None
    if view is None:
        raise click.ClickException(
            "no statistics snapshot yet: run `ansinh stats snapshot`\n"
            "chưa có số liệu tổng hợp: chạy `ansinh stats snapshot`"
        )
    if as_json:
        emit_json(view.as_dict())
        return
    where = view.unit.name if view.unit else "whole country"
    click.echo(f"{where} — as of {view.as_of.isoformat(timespec='seconds')}")
    table(["figure", "value"], [(k, f"{v:,}") for k, v in view.figures.items()])
    if view.open_cases:
        click.echo("")
        table(["open cases", "n"], view.open_cases.items())
    if view.breakdown:
        click.echo("")
        table(
            ["code", "area", "approved", "paid", "unpaid", "paid amount"],
            [
                (
                    a.code,
                    a.name,
                    a.figures["approved"],
                    a.figures["paid"],
                    a.figures["unpaid"],
                    f"{a.figures['paid_amount']:,}",
                )
                for a in view.breakdown
            ],
        )
