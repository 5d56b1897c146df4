"""Running the gateway: ``serve`` (gunicorn) and ``devserver`` (everything ``make run`` needs)."""

from __future__ import annotations

import os
from typing import Any

import click

from gateway.cli.context import CliContext, pass_cli


def register(main: click.Group) -> None:
    main.add_command(serve)
    main.add_command(devserver)


def run_gunicorn(app_factory: Any, bind: str, workers: int) -> None:
    from gunicorn.app.base import BaseApplication

    class _App(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", bind)
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "sync")
            self.cfg.set("accesslog", None)
            self.cfg.set("timeout", 120)
            if "control_socket_disable" in self.cfg.settings:  # gunicorn ≥ 24: one per user
                self.cfg.set("control_socket_disable", True)  # would be shared otherwise

        def load(self) -> Any:
            return app_factory()

    _App().run()


@click.command()
@click.option("--host", help="default ANSINH_HOST (127.0.0.1)")
@click.option("--port", type=int, help="default ANSINH_PORT (8000)")
@click.option("--workers", type=int, default=2, show_default=True)
@pass_cli
def serve(cli: CliContext, host: str | None, port: int | None, workers: int) -> None:
    """Serve the API and the officer workspace with gunicorn (sync workers)."""
    from gateway import create_app

    settings = cli.settings
    bind = f"{host or settings.host}:{port or settings.port}"
    run_gunicorn(lambda: create_app(settings), bind, workers)


@click.command()
@click.option("--workers", type=int, default=2, show_default=True)
@pass_cli
def devserver(cli: CliContext, workers: int) -> None:
    """What `make run` does: dev PKI, simulators, database with demo data, then the gateway on
    127.0.0.1:8000. Ctrl-C stops everything."""
    from gateway import create_app
    from gateway.devstack import Stack, components

    settings = cli.settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(settings.data_dir, say=lambda msg: click.echo(msg, err=True))
    try:
        for component in components():
            component.start(stack)
        os.environ.update(stack.env)
        final = stack.settings()
        base = f"http://{final.host}:{final.port}"
        click.echo("\nansinh-gateway is starting:")
        for what, url in [
            ("gateway", base),
            ("health", f"{base}/health"),
            ("API docs", f"{base}/api/docs"),
            ("metrics", f"{base}/metrics"),
            *stack.urls,
        ]:
            click.echo(f"  {what:<12} {url}")
        for note in stack.notes:
            click.echo(f"  {note}")
        run_gunicorn(lambda: create_app(final), f"{final.host}:{final.port}", workers)
    finally:
        stack.stop()
