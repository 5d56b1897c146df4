"""The audit trail."""

from __future__ import annotations

import click

from gateway.cli.context import CliContext, pass_cli
from gateway.cli.output import emit_json


def register(main: click.Group) -> None:
    main.add_command(audit)


@click.group()
def audit() -> None:
    """Hash-chained, append-only audit trail."""


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def verify(cli: CliContext, as_json: bool) -> None:
    """Check every link of the chain; exit 1 and name the first broken event if any."""
    from gateway.services.audit import verify_chain

    with cli.services.db.read() as conn:
        report = verify_chain(conn)
    if as_json:
        emit_json(report.__dict__)
    elif report.ok:
        click.echo(f"audit chain intact: {report.events} events")
    else:
        click.echo(
            f"audit chain BROKEN at event {report.broken_at}: {report.reason} "
            f"({report.events} events read)",
            err=True,
        )
    if not report.ok:
        raise SystemExit(1)
