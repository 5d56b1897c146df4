"""Accounts and API tokens."""

from __future__ import annotations

import click

from gateway.cli.context import CliContext, pass_cli
from gateway.cli.output import emit_json, table
from gateway.domain.states import Role
from gateway.errors import GatewayError
from gateway.security.principal import Actor


def register(main: click.Group) -> None:
    main.add_command(users)


@click.group()
def users() -> None:
    """Officer, bank-client and auditor accounts, each scoped to an admin unit."""


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--unit", "unit_code", help="admin unit code (commune 5 digits, province 2 digits)")
@click.option(
    "--level",
    type=click.Choice(["province", "district", "commune"]),
    help="level of --unit (default from the role)",
)
@click.option("--scheme", default="2025-07", show_default=True, help="legacy63 or 2025-07")
@click.option("--name", "display_name", help="display name (defaults to the username)")
@click.option("--password", help="web sign-in password (prompted if --prompt-password)")
@click.option("--prompt-password", is_flag=True)
@click.option("--token", "token_name", help="also issue an API token with this name")
@pass_cli
def add(
    cli: CliContext,
    username: str,
    role: str,
    unit_code: str | None,
    level: str | None,
    scheme: str,
    display_name: str | None,
    password: str | None,
    prompt_password: bool,
    token_name: str | None,
) -> None:
    """Create an account; prints its API token once if --token is given."""
    if prompt_password:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    from gateway.services import accounts

    svc = cli.services
    operator = Actor.system("cli")
    try:
        with svc.db.begin() as conn:
            accounts.add_user(
                conn,
                operator,
                username=username,
                display_name=display_name or username,
                role=role,
                unit_scheme=scheme,
                unit_code=unit_code,
                unit_level=level,
                password=password,
                now=svc.clock(),
            )
            token = (
                accounts.issue_token(conn, operator, username, token_name, now=svc.clock())
                if token_name
                else None
            )
    except GatewayError as exc:
        raise click.ClickException(f"{exc.message} / {exc.message_vi}") from None
    click.echo(f"created {username} ({role})")
    if token:
        click.echo(f"token (shown once): {token}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def list_(cli: CliContext, as_json: bool) -> None:
    """All accounts with role and scope."""
    from gateway.services import accounts

    with cli.services.db.read() as conn:
        rows = accounts.list_users(conn)
    if as_json:
        emit_json([r.__dict__ | {"role": r.role.value} for r in rows])
        return
    table(
        ["username", "role", "unit", "active", "name"],
        [(r.username, r.role.value, r.unit or "national", r.active, r.display_name) for r in rows],
    )


@users.command("token")
@click.argument("username")
@click.option("--name", required=True, help="what the token is for")
@click.option("--days", type=int, default=365, show_default=True)
@pass_cli
def token(cli: CliContext, username: str, name: str, days: int) -> None:
    """Issue an API token (printed once; only its hash is stored)."""
    from gateway.services import accounts

    svc = cli.services
    try:
        with svc.db.begin() as conn:
            value = accounts.issue_token(
                conn, Actor.system("cli"), username, name, now=svc.clock(), days=days
            )
    except GatewayError as exc:
        raise click.ClickException(f"{exc.message} / {exc.message_vi}") from None
    click.echo(value)
