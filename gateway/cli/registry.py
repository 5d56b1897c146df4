"""``ansinh registry …`` (bulk verification, change feed, WSDL check, death subscription) and
``ansinh simulate registry`` (the registry simulator)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from gateway.cli.context import CliContext, pass_cli
from gateway.cli.output import emit_json, interactive, table


def register(main: click.Group) -> None:
    from gateway.cli.simulate import simulate_group

    main.add_command(registry_group)
    simulate_group.add_command(simulate_registry)
    simulate_group.add_command(simulate_registry_emit)


@click.group("registry")
def registry_group() -> None:
    """The national population registry: verification, change feed, configuration checks."""


@registry_group.command("verify")
@click.option("--program", "--programme", "programme", help="programme code (default: all)")
@click.option("--batch-size", type=click.IntRange(1, 10_000), help="persons per registry call")
@click.option("--concurrency", type=click.IntRange(1, 64), help="registry calls in flight")
@click.option("--json", "as_json", is_flag=True, help="print the summary as one JSON line")
@pass_cli
def verify_command(
    cli: CliContext,
    programme: str | None,
    batch_size: int | None,
    concurrency: int | None,
    as_json: bool,
) -> None:
    """Verify every proposed enrollment that still needs it against the registry.

    Resumable: run it again after a crash and it continues where the database says it stopped.
    """
    from gateway.security.principal import Actor
    from gateway.services import verify

    svc = cli.services
    actor = Actor.system("cli:registry-verify")
    kwargs: dict[str, Any] = {
        "programme_code": programme,
        "batch_size": batch_size,
        "concurrency": concurrency,
    }
    if interactive() and not as_json:
        bar: Any = None

        def started(total: int) -> None:
            nonlocal bar
            bar = click.progressbar(
                length=total,
                label="verifying",
                file=click.get_text_stream("stderr"),  # type: ignore[operator]
            )
            bar.__enter__()

        try:
            summary = verify.verify_pending(
                svc, actor, started=started, progress=lambda n: bar.update(n), **kwargs
            )
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
    else:
        summary = verify.verify_pending(svc, actor, **kwargs)
    result = summary.as_dict()
    if as_json:
        emit_json(result)
        return
    click.echo(
        f"run {summary.run_id}{' (resumed after an interrupted run)' if summary.resumed else ''}: "
        f"{summary.checked} of {summary.total} checked in {summary.seconds} s"
    )
    rows = [(k, v) for k, v in result.items() if isinstance(v, int) and k not in ("run_id",)]
    table(["outcome", "count"], rows)
    if summary.error_codes:
        table(["error code", "persons"], sorted(summary.error_codes.items()))


@registry_group.command("changes")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def changes_command(cli: CliContext, as_json: bool) -> None:
    """Pull the registry's change feed once (deaths, re-issued IDs, moves) and apply it."""
    from gateway.services import registry_events

    summary = registry_events.pull_changes(cli.services)
    if as_json:
        emit_json(summary.as_dict())
    else:
        table(["what", "count"], [(k, v) for k, v in summary.as_dict().items() if k != "cursor"])


@registry_group.command("check")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def check_command(cli: CliContext, as_json: bool) -> None:
    """Load the registry WSDL (offline schema catalog) and check the mapping file against it."""
    registry = cli.services.registry
    check = getattr(registry, "check", None)
    if check is not None:
        check()
    result = {
        "backend": cli.settings.registry.backend,
        "registry": registry.name,
        "max_batch": getattr(registry, "max_batch", 1),
        "operations": sorted(getattr(getattr(registry, "m", None), "operations", {}) or []),
        "ok": True,
    }
    if as_json:
        emit_json(result)
    else:
        table(["setting", "value"], [(k, v) for k, v in result.items()])


@registry_group.command("subscribe")
@click.option("--notify-uri", required=True, help="where the registry pushes death notifications")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def subscribe_command(cli: CliContext, notify_uri: str, as_json: bool) -> None:
    """Subscribe to death notifications (SPDCI subscribe; REST registry only)."""
    registry = cli.services.registry
    subscribe = getattr(registry, "subscribe_deaths", None)
    if subscribe is None:
        raise click.ClickException("the configured registry offers no subscriptions (REST only)")
    code = subscribe(notify_uri)
    if as_json:
        emit_json({"subscription_code": code})
    else:
        click.echo(f"subscribed; subscription code {code}")


@click.command("registry")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8101, show_default=True)
@click.option("--people", type=click.IntRange(1), default=10_000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--world",
    type=click.Path(path_type=Path, file_okay=False),
    help="serve population.csv and registry_ticks.csv of a generated world",
)
@click.option(
    "--db",
    type=click.Path(path_type=Path, dir_okay=False),
    help="SQLite file of the population (default: under the data dir)",
)
@click.option("--mapping", default="registry/default.toml", show_default=True)
@click.option(
    "--wsdl",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="serve another WSDL (with its --mapping)",
)
@click.option(
    "--certs",
    "certs_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="dev PKI (signing keys, WS-Security certificate); default ANSINH_CERTS_DIR",
)
@click.option("--workers", type=click.IntRange(1, 16), default=1, show_default=True)
@click.option("--threads", type=click.IntRange(1, 64), default=8, show_default=True)
@click.option(
    "--server",
    type=click.Choice(["gunicorn", "werkzeug"]),
    default="gunicorn",
    show_default=True,
    help="gunicorn gthread workers (keep-alive) or werkzeug's threaded development server",
)
@click.option(
    "--switch",
    "switches",
    multiple=True,
    metavar="NAME=VALUE",
    help="failure switch, e.g. latency_ms=50, error_rate=0.1, hostile=xxe (repeatable)",
)
@pass_cli
def simulate_registry(
    cli: CliContext,
    host: str,
    port: int,
    people: int,
    seed: int,
    world: Path | None,
    db: Path | None,
    mapping: str,
    wsdl: Path | None,
    certs_dir: Path | None,
    workers: int,
    threads: int,
    server: str,
    switches: tuple[str, ...],
) -> None:
    """Serve a population registry: WSDL at /soap?wsdl, SOAP at /soap, SPDCI REST under
    /registry/, OAuth2 at /oauth2/client/token, switches and change events under /_admin/."""
    from adapters.registry.simulator.app import DEFAULT_WSDL
    from adapters.registry.simulator.faults import Switches
    from adapters.registry.simulator.serve import ServeOptions, serve

    try:
        chosen = Switches().updated(dict(_switch(s) for s in switches))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--switch") from None
    options = ServeOptions(
        host=host,
        port=port,
        people=people,
        seed=seed,
        world=world,
        db=db,
        data_dir=cli.settings.data_dir,
        mapping=mapping,
        wsdl=wsdl or DEFAULT_WSDL,
        certs_dir=certs_dir or cli.settings.security.certs_dir,
        workers=workers,
        threads=threads,
        server=server,
        switches=chosen,
    )
    click.echo(f"registry simulator on http://{host}:{port} (WSDL /soap?wsdl)", err=True)
    serve(options)


@click.command("registry-emit")
@click.option("--url", required=True, help="the simulator, e.g. http://127.0.0.1:8101")
@click.option("--kind", type=click.Choice(["death", "reissue", "move"]), required=True)
@click.option("--count", type=click.IntRange(1, 10_000), default=1, show_default=True)
@click.option("--pid", help="this person (default: random living persons)")
@click.option("--json", "as_json", is_flag=True)
def simulate_registry_emit(url: str, kind: str, count: int, pid: str | None, as_json: bool) -> None:
    """Tell a running registry simulator that people died, got a new ID number, or moved: the
    events appear in its change feed (and deaths are pushed to subscribers)."""
    import requests

    order: dict[str, Any] = {"kind": kind, "count": count}
    if pid:
        order["pid"] = pid
    response = requests.post(f"{url.rstrip('/')}/_admin/emit", json=order, timeout=30)
    if response.status_code != 200:
        raise click.ClickException(f"the simulator refused: {response.text[:300]}")
    emitted = response.json()["emitted"]
    if as_json:
        emit_json({"emitted": len(emitted), "cursors": [e["cursor"] for e in emitted]})
    else:
        click.echo(f"{len(emitted)} {kind} event(s) emitted, cursors {emitted[0]['cursor']}…")


def _switch(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep:
        raise click.BadParameter(f"{text!r} is not NAME=VALUE", param_hint="--switch")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return name.strip(), value
