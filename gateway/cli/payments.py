"""``ansinh payments …`` (parse, ingest, send, query-unknown, query-returns, cancel, apply-inbox,
fetch) and the simulators ``ansinh simulate bank`` / ``ansinh simulate postoffice``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import click

from gateway.cli.context import CliContext, pass_cli
from gateway.cli.output import emit_json, table


def register(main: click.Group) -> None:
    from gateway.cli.simulate import simulate_group

    main.add_command(payments)
    simulate_group.add_command(simulate_bank)
    simulate_group.add_command(simulate_postoffice)


@click.group()
def payments() -> None:
    """Payment rails: files, batches, unknown outcomes, the inbox."""


def _item_json(item: Any) -> dict[str, Any]:
    from gateway.domain.payment_reasons import action_for

    out = {k: v for k, v in dataclasses.asdict(item).items() if v not in (None, "")}
    if item.counter_pid:
        from gateway.domain.personal_id import mask

        out["counter_pid"] = mask(item.counter_pid)
    if isinstance(item.occurred_at, dt.datetime):
        out["occurred_at"] = item.occurred_at.isoformat()
    action = action_for(item.reason_code)
    if action:
        out["action"] = str(action)
    return out


@payments.command("parse")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="one JSON object")
@click.option("--no-validate", is_flag=True, help="skip the XSD check (very large files)")
def parse(file: Path, as_json: bool, no_validate: bool) -> None:
    """Print the normalised confirmations of a pain.002, camt.052/053/054, pain.001 or
    post-office return file. Exit 1 (with the reason code) when the file is refused."""
    from adapters.payments.errors import MessageRejected
    from adapters.payments.iso20022.read import read
    from adapters.payments.postoffice import parse_return_file

    body = file.read_bytes()
    try:
        if body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
            parsed = read(file, validate=not no_validate)
            items = [_item_json(i) for i in parsed.items]
            result: dict[str, Any] = {
                "file": file.name,
                "kind": parsed.kind,
                "version": parsed.version,
                "message_id": parsed.message_id,
                "created_at": parsed.created_at,
                "warnings": parsed.warnings,
                "counts": parsed.counts,
                "items": items,
            }
        else:
            msg = parse_return_file(body, f"return:{file.name}")
            items = [_item_json(i) for i in msg.items]
            result = {
                "file": file.name,
                "kind": "return-file",
                "message_id": msg.message_id,
                "warnings": [],
                "items": items,
            }
    except MessageRejected as exc:
        if as_json:
            emit_json({"file": file.name, "rejected": True, **exc.as_dict()})
        raise click.ClickException(f"{exc.code}: {exc.message}") from None
    if as_json:
        emit_json(result)
        return
    click.echo(f"{result['kind']} {result.get('version') or ''} message {result['message_id']}")
    for warning in result["warnings"]:
        click.echo(f"  warning: {warning}")
    table(
        ["reference", "scope", "outcome", "amount", "currency", "reason", "action"],
        [
            (
                i.get("reference"),
                i.get("scope"),
                i.get("outcome"),
                i.get("amount_text", i.get("amount")),
                i.get("currency"),
                i.get("reason_code"),
                i.get("action"),
            )
            for i in items
        ],
    )


@payments.command("ingest")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--channel", type=click.Choice(["bank", "postoffice"]), default="bank")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def ingest(cli: CliContext, file: Path, channel: str, as_json: bool) -> None:
    """Store and apply a confirmation file (refused files are kept as evidence; exit 1)."""
    from gateway.errors import GatewayError
    from gateway.security.principal import Actor
    from gateway.services import inbound

    try:
        result = inbound.ingest_file(
            cli.services, Actor.system("cli"), channel, file.read_bytes(), filename=file.name
        )
    except GatewayError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from None
    if as_json:
        emit_json(result)
    else:
        click.echo(
            f"{result['kind']} {result['message_id']}: {result['items']} items "
            f"{'(replay)' if result['replay'] else ''} {result['results']}"
        )


@payments.command("send")
@click.option("--programme", required=True)
@click.option("--period", required=True)
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def send(cli: CliContext, programme: str, period: str, as_json: bool) -> None:
    """Create instructions for approved entitlements and submit the batches."""
    from gateway.security.principal import Actor
    from gateway.services import disburse

    actor = Actor.system("cli")
    made = disburse.create_instructions(cli.services, actor, programme, period)
    sent = [disburse.send_batch(cli.services, actor, b).__dict__ for b in made.batches]
    result = {"created": made.created, "amount": made.amount, "batches": sent}
    emit_json(result) if as_json else click.echo(json.dumps(result, ensure_ascii=False))


@payments.command("query-unknown")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def query_unknown(cli: CliContext, as_json: bool) -> None:
    """Ask the channels about unknown outcomes and overdue callbacks (never a resend)."""
    from gateway.services import disburse

    result = disburse.query_unknown(cli.services).__dict__
    emit_json(result) if as_json else click.echo(json.dumps(result))


@payments.command("query-returns")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def query_returns(cli: CliContext, as_json: bool) -> None:
    """Ask again about payments settled within the return window (lost return callbacks)."""
    from gateway.services import disburse

    result = disburse.query_returns(cli.services).__dict__
    emit_json(result) if as_json else click.echo(json.dumps(result))


@payments.command("cancel")
@click.argument("references", nargs=-1, required=True)
@click.option("--reason", required=True, help="why (kept in the audit trail)")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def cancel(cli: CliContext, references: tuple[str, ...], reason: str, as_json: bool) -> None:
    """Cancel instructions before execution (unsent here; sent ones at the channel)."""
    from gateway.security.principal import Actor
    from gateway.services import disburse

    result = disburse.cancel(cli.services, Actor.system("cli"), list(references), reason=reason)
    emit_json(result) if as_json else click.echo(json.dumps(result))


@payments.command("apply-inbox")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", type=int, default=500, show_default=True)
@pass_cli
def apply_inbox(cli: CliContext, as_json: bool, limit: int) -> None:
    """Apply inbox messages stored but not applied (crash recovery, deferred apply)."""
    from gateway.services import inbound

    result = inbound.apply_pending(cli.services, limit=limit)
    emit_json(result) if as_json else click.echo(json.dumps(result))


@payments.command("fetch")
@click.option("--channel", type=click.Choice(["bank", "postoffice"]), default="bank")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def fetch(cli: CliContext, channel: str, as_json: bool) -> None:
    """Fetch pull-based confirmations (pain.002/camt files, return files) and apply them."""
    from gateway.services import confirm

    summary = confirm.fetch_and_apply(cli.services, channel)
    result = {
        "applied": summary.applied,
        "duplicates": summary.duplicates,
        "results": summary.results,
    }
    emit_json(result) if as_json else click.echo(json.dumps(result))


def _keys(certs_dir: Path, key_id: str) -> tuple[Any, Any]:
    from adapters import signing

    return (
        signing.load_signing_key(certs_dir, key_id),
        signing.KeyStore.from_keys_json(certs_dir / "signing" / "keys.json"),
    )


@click.command("bank")
@click.option("--port", type=int, default=8090, show_default=True)
@click.option("--accounts", type=click.Path(exists=True, path_type=Path), help="accounts.csv")
@click.option("--tls/--no-tls", default=False, help="HTTPS with mutual TLS (certs dir)")
@click.option("--reject-rate", type=float, default=0.0, show_default=True)
@click.option("--return-rate", type=float, default=0.0, show_default=True)
@click.option("--return-delay", type=float, default=2.0, show_default=True)
@click.option("--duplicate-callbacks", type=int, default=1, show_default=True)
@click.option("--shuffle", is_flag=True, help="callbacks out of order")
@click.option("--lost-rate", type=float, default=0.0, show_default=True)
@click.option("--callback-delay", type=float, default=0.0, show_default=True)
@click.option("--callback-threads", type=int, default=1, show_default=True)
@click.option(
    "--execute-after", type=float, default=0.0, show_default=True, help="cancel window (s)"
)
@click.option("--duplicate-lines", is_flag=True, help="file mode: statement entries twice")
@click.option("--name-mismatch-rate", type=float, default=0.0, show_default=True)
@click.option("--callback-url", help="send callbacks here instead of the request's sender_uri")
@click.option("--seed", type=int, default=7, show_default=True)
@pass_cli
def simulate_bank(
    cli: CliContext, port: int, accounts: Path | None, tls: bool, **opts: Any
) -> None:
    """A bank: G2P Connect disburse (REST) and pain.001/pain.002/camt files, on 127.0.0.1."""
    from adapters.payments.simulator import serve_in_thread, tls_context
    from adapters.payments.simulator.bank import BankConfig, BankSim, load_accounts
    from adapters.payments.simulator.bank_api import create_app
    from adapters.payments.simulator.delivery import Deliverer

    certs = cli.settings.security.certs_dir
    key, gateway_keys = _keys(certs, "bank-sim-1")
    config = BankConfig(bank_id=cli.settings.payments.bank_id, **opts)
    ca = certs / "ca.crt"
    sim = BankSim(
        config,
        load_accounts(accounts) if accounts else {},
        key,
        gateway_keys,
        deliverer=Deliverer(
            verify=str(ca) if ca.exists() else True, threads=config.callback_threads
        ),
    )
    server, url = serve_in_thread(
        create_app(sim), port, ssl_context=tls_context(certs) if tls else None
    )
    click.echo(f"bank simulator on {url} ({len(sim.accounts)} accounts)", err=True)
    _wait(server)


@click.command("postoffice")
@click.option("--port", type=int, default=8091, show_default=True)
@click.option("--tls/--no-tls", default=False)
@click.option("--unpaid-rate", type=float, default=0.0, show_default=True)
@click.option("--returned-rate", type=float, default=0.0, show_default=True)
@click.option("--id-mismatch-rate", type=float, default=0.0, show_default=True)
@click.option("--duplicate-rows", is_flag=True)
@click.option("--xlsx", is_flag=True, help="return files as XLSX instead of CSV")
@click.option("--return-delay", type=float, default=0.0, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@pass_cli
def simulate_postoffice(cli: CliContext, port: int, tls: bool, **opts: Any) -> None:
    """The post office: payout lists in, return files out, on 127.0.0.1."""
    from adapters.payments.simulator import serve_in_thread, tls_context
    from adapters.payments.simulator.postoffice import PostOfficeConfig, PostOfficeSim, create_app

    sim = PostOfficeSim(PostOfficeConfig(**opts))
    certs = cli.settings.security.certs_dir
    server, url = serve_in_thread(
        create_app(sim), port, ssl_context=tls_context(certs) if tls else None
    )
    click.echo(f"post-office simulator on {url}", err=True)
    _wait(server)


def _wait(server: Any) -> None:
    import threading

    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()
