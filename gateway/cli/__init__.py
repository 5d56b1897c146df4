"""The ``ansinh`` command line. Every area adds its commands from its own module here: a module
with a ``register(main)`` function is picked up, so areas never edit one shared file."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from gateway.cli.context import CliContext
from gateway.settings import Settings, SettingsError


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """ansinh-gateway: registry, provincial lists and payment rails, reconciled.

    Configuration comes from ANSINH_* environment variables (docs/configuration.md).
    """
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    ctx.obj = CliContext(settings)
    ctx.call_on_close(ctx.obj.close)


def _register_all() -> None:
    package = sys.modules[__name__]
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name in ("__main__", "context", "output"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(main)


_register_all()
