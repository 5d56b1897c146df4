"""``ansinh cases list|show|resolve|assign``: the mismatch cases, from a terminal.

Commands act as the system account ``cli`` unless ``--as USER`` names an officer, whose role
and admin-unit scope then apply exactly as on the web and the API. Names are masked and
personal IDs never printed.
"""

from __future__ import annotations

import json
from typing import Any

import click

from gateway.cli.context import CliContext, pass_cli
from gateway.cli.output import emit_json, table


def register(main: click.Group) -> None:
    main.add_command(cases)


@click.group()
def cases() -> None:
    """Mismatch cases found by reconciliation: list, show, assign, resolve."""


def _actor(cli: CliContext, username: str | None) -> Any:
    from sqlalchemy import select

    from gateway.db.tables import app_user
    from gateway.security.principal import Actor
    from gateway.services import accounts

    if not username:
        return Actor.system("cli")
    with cli.services.db.read() as conn:
        user_id = conn.execute(
            select(app_user.c.id).where(app_user.c.username == username)
        ).scalar()
        if user_id is None:
            raise click.ClickException(f"no user {username}")
        return accounts.actor_for_user(conn, user_id)


def _fail(exc: Any) -> click.ClickException:
    problems = getattr(exc, "problems", None)
    if problems:
        text = "; ".join(f"{p.field}: {p.message} / {p.message_vi}" for p in problems)
    else:
        text = f"{exc.message} / {exc.message_vi}"
    return click.ClickException(f"{exc.code}: {text}")


def _unit_id(cli: CliContext, raw: str | None) -> int | None:
    """``--unit`` as a code, scheme-qualified or not (``2025-07:26743``, ``79``)."""
    if raw is None:
        return None
    from gateway.services import units

    scheme, _, code = raw.rpartition(":")
    level = {2: "province", 3: "district", 5: "commune"}.get(len(code), "commune")
    with cli.services.db.read() as conn:
        return units.resolve(conn, units.scheme_of(scheme or None), code, level=level).id


@cases.command("list")
@click.option("--type", "case_type", help="mismatch type, e.g. approved_unpaid")
@click.option("--unit", help="admin unit code (2025-07:79, 26743); includes the units below it")
@click.option("--programme", help="programme code")
@click.option(
    "--status",
    type=click.Choice(["open", "resolved", "closed", "all"]),
    default="open",
    show_default=True,
)
@click.option("--older-than-days", type=click.IntRange(min=0), help="opened at least N days ago")
@click.option("--newer-than-days", type=click.IntRange(min=0), help="opened at most N days ago")
@click.option("--assignee", help="username, or 'none' for unassigned cases")
@click.option("--after", help="the cursor printed by the previous page")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--as", "as_user", help="act as this officer (scope and role apply)")
@click.option("--json", "as_json", is_flag=True, help="one JSON object")
@pass_cli
def list_cmd(
    cli: CliContext,
    case_type: str | None,
    unit: str | None,
    programme: str | None,
    status: str,
    older_than_days: int | None,
    newer_than_days: int | None,
    assignee: str | None,
    after: str | None,
    limit: int,
    as_user: str | None,
    as_json: bool,
) -> None:
    """Cases in scope, oldest first, one page (``--after`` for the next)."""
    from gateway.errors import GatewayError
    from gateway.services import cases as service

    svc = cli.services
    try:
        actor = _actor(cli, as_user)
        filters = service.CaseFilter(
            type=case_type,
            unit_id=_unit_id(cli, unit),
            programme=programme,
            status=None if status == "all" else status,
            min_age_days=older_than_days,
            max_age_days=newer_than_days,
            assignee=assignee,
        )
        with svc.db.read() as conn:
            page = service.list_cases(
                conn, actor, filters, now=svc.clock(), after=after, limit=limit
            )
    except GatewayError as exc:
        raise _fail(exc) from None
    if as_json:
        emit_json({"cases": page.rows, "next": page.next_cursor})
        return
    table(
        ("id", "type", "status", "unit", "programme", "period", "person", "amount", "age"),
        [
            (
                r["id"],
                r["type"],
                r["status"],
                r["unit_name"],
                r["programme"],
                r["period"],
                r["person"],
                r["amount"],
                r["age_days"],
            )
            for r in page.rows
        ],
    )
    if page.next_cursor:
        click.echo(f"next page: --after {page.next_cursor}")


@cases.command("show")
@click.argument("case_id", type=int)
@click.option("--as", "as_user", help="act as this officer (scope and role apply)")
@click.option("--json", "as_json", is_flag=True, help="one JSON object")
@pass_cli
def show(cli: CliContext, case_id: int, as_user: str | None, as_json: bool) -> None:
    """One case: its evidence, payments, registry answer and action history."""
    from gateway.errors import GatewayError
    from gateway.services import cases as service

    try:
        case = service.get_case(cli.services, _actor(cli, as_user), case_id)
    except GatewayError as exc:
        raise _fail(exc) from None
    if as_json:
        emit_json(case)
        return
    click.echo(
        f"case {case['id']}  {case['type']}  {case['status']}  {case['unit_name']}  "
        f"{case['programme'] or ''} {case['period'] or ''}"
    )
    click.echo(f"evidence: {json.dumps(case['evidence'], ensure_ascii=False, default=str)}")
    if case["listed"]:
        listed = case["listed"]
        click.echo(
            f"listed: {listed['full_name']}  {listed['personal_id']}  {listed['state']}  "
            f"{listed['amount']}"
        )
    for i in case["instructions"]:
        click.echo(
            f"payment {i['reference']} attempt {i['attempt']}: {i['state']} {i['amount']}"
            + (f" (replaces {i['replaces_id']})" if i["replaces_id"] else "")
        )
    for h in case["history"]:
        click.echo(f"{h['at']}  {h['actor']}  {h['action']}: {h['reason']}")
    if case["actions_allowed"]:
        click.echo("actions: " + ", ".join(case["actions_allowed"]))


@cases.command("resolve")
@click.argument("case_id", type=int)
@click.option(
    "--action",
    required=True,
    type=click.Choice(
        [
            "confirm_paid",
            "reissue_payment",
            "cancel_entitlement",
            "false_positive",
            "merge_persons",
        ]
    ),
)
@click.option("--reason", required=True, help="why (required, recorded and audited)")
@click.option("--evidence", "evidence_ref", help="evidence reference (required to confirm paid)")
@click.option("--merge-into", type=int, help="merge_persons: id of the person who remains")
@click.option("--as", "as_user", help="act as this officer (scope and role apply)")
@click.option("--json", "as_json", is_flag=True, help="one JSON object")
@pass_cli
def resolve(
    cli: CliContext,
    case_id: int,
    action: str,
    reason: str,
    evidence_ref: str | None,
    merge_into: int | None,
    as_user: str | None,
    as_json: bool,
) -> None:
    """Resolve an open case with an action and a reason (exit 1 with the reason if refused)."""
    from gateway.errors import GatewayError
    from gateway.services import cases as service

    try:
        done = service.resolve(
            cli.services,
            _actor(cli, as_user),
            case_id,
            action,
            reason,
            evidence_ref,
            merge_into=merge_into,
        )
    except GatewayError as exc:
        raise _fail(exc) from None
    out = {"case_id": done.case_id, "action": done.action, "status": done.status, **done.detail}
    if as_json:
        emit_json(out)
    else:
        click.echo(f"case {case_id} resolved: {action}")
        for key, value in done.detail.items():
            click.echo(f"  {key}: {value}")


@cases.command("assign")
@click.argument("case_id", type=int)
@click.argument("assignee", required=False)
@click.option("--reason", default="", help="why (optional)")
@click.option("--as", "as_user", help="act as this officer (scope and role apply)")
@pass_cli
def assign(
    cli: CliContext, case_id: int, assignee: str | None, reason: str, as_user: str | None
) -> None:
    """Give an open case to one officer whose scope contains it (no ASSIGNEE: unassign)."""
    from gateway.errors import GatewayError
    from gateway.services import cases as service

    try:
        service.assign(cli.services, _actor(cli, as_user), case_id, assignee, reason=reason)
    except GatewayError as exc:
        raise _fail(exc) from None
    click.echo(f"case {case_id} assigned to {assignee or '(the whole scope)'}")
