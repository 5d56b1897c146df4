"""``ansinh intake …``: import provincial lists, the canonical template, quarantine, status back;
and ``ansinh simulate province``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from gateway.cli.context import CliContext, pass_cli
from gateway.cli.output import emit_json, table
from gateway.errors import GatewayError
from gateway.security.principal import Actor

ACTOR = Actor.system("cli")


def register(main: click.Group) -> None:
    from gateway.cli.simulate import simulate_group

    main.add_command(intake)
    simulate_group.add_command(province)


def _fail(exc: GatewayError, as_json: bool) -> None:
    if as_json:
        emit_json({"error": exc.as_dict()})
        raise SystemExit(1)
    raise click.ClickException(f"{exc.message}\n{exc.message_vi}")


@click.group()
def intake() -> None:
    """Provincial beneficiary lists: import, template, quarantine, status back."""


@intake.command("import")
@click.option("--program", "programme", required=True, help="programme code, e.g. ND20-TCXH")
@click.option("--mapping", default="canonical", show_default=True, help="mapping name or path")
@click.option("--period", required=True, help="YYYY-MM, or ONCE for a one-off package")
@click.option("--source", "source_key", help="list identity (a corrected version keeps it)")
@click.option("--json", "as_json", is_flag=True)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_cli
def import_(
    cli: CliContext,
    programme: str,
    mapping: str,
    period: str,
    source_key: str | None,
    as_json: bool,
    file: Path,
) -> None:
    """Import FILE (CSV or XLSX) through MAPPING; rejected rows go to quarantine."""
    from gateway.bootstrap import open_welfare_file
    from gateway.services import intake as service

    try:
        summary = service.import_file(
            cli.services,
            ACTOR,
            open_welfare_file(file, mapping),
            mapping=mapping,
            programme_code=programme,
            period=period,
            source_key=source_key,
        )
    except GatewayError as exc:
        _fail(exc, as_json)
        return
    if as_json:
        emit_json(summary.as_dict())
        return
    click.echo(f"import {summary.import_id}: {summary.status}")
    table(["", "rows"], [(k, v) for k, v in summary.as_dict().items() if isinstance(v, int)])


@intake.command("pull")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def pull(cli: CliContext, as_json: bool) -> None:
    """Import every list the configured welfare source offers (REST pages or the inbox)."""
    from gateway.services import intake as service

    svc = cli.services
    results = []
    for source in svc.welfare.lists():
        try:
            summary = service.import_rows(
                svc,
                ACTOR,
                source_key=source.key,
                source_kind=source.kind,
                mapping=source.mapping,
                programme_code=source.programme,
                period=source.period,
                content_hash=source.version,
                rows=svc.welfare.rows(source),
            )
            results.append({"list": source.key, **summary.as_dict()})
        except GatewayError as exc:
            results.append({"list": source.key, "error": exc.as_dict()})
    if as_json:
        emit_json(results)
        return
    table(
        ["list", "status", "accepted", "quarantined", "superseded"],
        [
            (
                r["list"],
                r.get("status", "error"),
                r.get("accepted"),
                r.get("quarantined"),
                r.get("superseded"),
            )
            for r in results
        ],
    )


@intake.command("template")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="default: stdout")
@click.option("--no-example", is_flag=True, help="headers only")
def template(fmt: str, out: Path | None, no_example: bool) -> None:
    """The canonical template (Vietnamese headers; English field names accepted too)."""
    from mappings import template as tpl

    body = (
        tpl.csv_bytes(example=not no_example)
        if fmt == "csv"
        else tpl.xlsx_bytes(example=not no_example)
    )
    if out is not None:
        out.write_bytes(body)
        click.echo(f"wrote {out}", err=True)
    elif fmt == "xlsx" and sys.stdout.isatty():
        raise click.ClickException("an XLSX template is binary: use --out FILE")
    else:
        sys.stdout.buffer.write(body)


@intake.group("quarantine")
def quarantine_group() -> None:
    """Rows that were rejected: list, show, correct and replay, discard."""


@quarantine_group.command("list")
@click.option("--import-id", type=int)
@click.option("--status", default="open", show_default=True, help="open, replayed, discarded, all")
@click.option("--after-id", type=int, default=0)
@click.option("--limit", type=click.IntRange(1, 1000), default=50)
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def q_list(
    cli: CliContext, import_id: int | None, status: str, after_id: int, limit: int, as_json: bool
) -> None:
    from gateway.services import quarantine

    with cli.services.db.read() as conn:
        rows = quarantine.list_rows(
            conn,
            ACTOR,
            import_id=import_id,
            status=None if status == "all" else status,
            after_id=after_id,
            limit=limit,
        )
    if as_json:
        emit_json(rows)
        return
    table(
        ["id", "source", "where", "field", "rule", "value"],
        [
            (r["id"], r["source"], r["location"], p["field"], p["rule"], p["value"])
            for r in rows
            for p in r["problems"]
        ],
    )


@quarantine_group.command("show")
@click.argument("row_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def q_show(cli: CliContext, row_id: int, as_json: bool) -> None:
    """One row: where it came from, its problems (both languages) and its fields."""
    from gateway.services import quarantine

    try:
        row = quarantine.get_row(cli.services, ACTOR, row_id)
    except GatewayError as exc:
        _fail(exc, as_json)
        return
    if as_json:
        emit_json(row)
        return
    click.echo(f"#{row['id']} {row['source']} {row['location']} ({row['status']})")
    table(
        ["field", "rule", "message", "thông báo"],
        [(p["field"], p["rule"], p["message"], p["message_vi"]) for p in row["problems"]],
    )
    table(["field", "value"], sorted(row["fields"].items()))


@quarantine_group.command("replay")
@click.argument("row_id", type=int)
@click.option("--set", "changes", multiple=True, metavar="FIELD=VALUE", help="a correction")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def q_replay(cli: CliContext, row_id: int, changes: tuple[str, ...], as_json: bool) -> None:
    """Correct fields of a quarantined row and run it through intake again."""
    from gateway.services import quarantine

    corrected: dict[str, object] = {}
    for change in changes:
        name, sep, value = change.partition("=")
        if not sep:
            raise click.BadParameter(f"{change!r} is not FIELD=VALUE", param_hint="--set")
        corrected[name.strip()] = value
    try:
        result = quarantine.replay(cli.services, ACTOR, row_id, corrected)
    except GatewayError as exc:
        _fail(exc, as_json)
        return
    body: dict[str, Any] = {
        "accepted": result.accepted,
        "enrollment_id": result.enrollment_id,
        "problems": [p.as_dict() for p in result.problems],
    }
    if as_json:
        emit_json(body)
    else:
        click.echo("accepted" if result.accepted else "still rejected")
        for p in result.problems:
            click.echo(f"  {p.field}: {p.message} / {p.message_vi}")
    if not result.accepted:
        raise SystemExit(1)


@quarantine_group.command("discard")
@click.argument("row_id", type=int)
@click.option("--reason", required=True)
@pass_cli
def q_discard(cli: CliContext, row_id: int, reason: str) -> None:
    from gateway.services import quarantine

    try:
        quarantine.discard(cli.services, ACTOR, row_id, reason)
    except GatewayError as exc:
        _fail(exc, False)


@intake.group("status")
def status_group() -> None:
    """Per-person status back to the province."""


@status_group.command("export")
@click.option("--source", "source_key", required=True, help="the list's source key")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="default: stdout")
@pass_cli
def status_export(cli: CliContext, source_key: str, out: Path | None) -> None:
    """CSV of every row of a list: state, reason, amount, payment date."""
    from adapters.welfare.status_file import write_rows
    from gateway.services import status

    with cli.services.db.read() as conn:
        if out is None:
            count = write_rows(sys.stdout, status.statuses(conn, source_key))
        else:
            with out.open("w", encoding="utf-8-sig", newline="") as fh:
                count = write_rows(fh, status.statuses(conn, source_key))
    click.echo(f"{count} statuses", err=True)


@status_group.command("push")
@click.option("--source", "source_key", required=True)
@pass_cli
def status_push(cli: CliContext, source_key: str) -> None:
    """Queue the statuses for the province's REST API (delivered by the outbox dispatcher)."""
    from gateway.services import status

    click.echo(f"{status.push(cli.services, ACTOR, source_key)} message(s) queued")


@click.command("province")
@click.option("--world", type=click.Path(file_okay=False, path_type=Path), help="generated world")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8095, show_default=True)
@click.option("--token", envvar="ANSINH_WELFARE_TOKEN", help="bearer token to require")
def province(world: Path | None, host: str, port: int, token: str | None) -> None:
    """A provincial welfare database's paged REST API serving a generated world's lists."""
    import os

    from werkzeug.serving import run_simple

    from adapters.welfare.simulator import ProvinceData, create_app

    directory = world or Path(os.environ.get("ANSINH_DEVSTACK_WORLD", "var/generated"))
    data = ProvinceData.from_world(directory)
    click.echo(f"province simulator: {len(data.lists)} lists on http://{host}:{port}", err=True)
    run_simple(host, port, create_app(data, token=token), threaded=True)
