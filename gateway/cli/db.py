"""Database and reference-data commands."""

from __future__ import annotations

import click

from gateway.cli.context import CliContext, pass_cli
from gateway.cli.output import emit_json


def register(main: click.Group) -> None:
    main.add_command(db)
    main.add_command(refdata)


@click.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@pass_cli
def upgrade(cli: CliContext) -> None:
    """Apply every migration not yet applied (SQLite or PostgreSQL)."""
    from gateway.db import migrate

    migrate.upgrade(cli.services.db.engine)
    click.echo(f"database at {', '.join(sorted(migrate.current_heads(cli.services.db.engine)))}")


@click.group()
def refdata() -> None:
    """Reference data: administrative units of both schemes, programme catalogue."""


@refdata.command("load")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@pass_cli
def load(cli: CliContext, as_json: bool) -> None:
    """Load admin units (legacy 63-province and 2025 34-province schemes with succession) and
    seed the programme catalogue. Safe to run again."""
    from gateway.db import migrate
    from gateway.refdata import admin_units, programmes

    svc = cli.services
    migrate.upgrade(svc.db.engine)
    with svc.db.begin() as conn:
        report = admin_units.load(conn, now=svc.clock())
        added = programmes.seed(conn)
    result = {
        **report.__dict__,
        "programmes_added": added,
        "data_version": admin_units.DATA_VERSION,
    }
    if as_json:
        emit_json(result)
    else:
        click.echo(
            f"admin units: +{report.units_added} added, {report.units_updated} renamed, "
            f"+{report.successions_added} successions"
            f"{' (already at ' + admin_units.DATA_VERSION + ')' if report.skipped else ''}; "
            f"programmes: +{added}"
        )
