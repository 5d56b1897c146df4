"""What every command shares: the settings, and services built on first use."""

from __future__ import annotations

import click

from gateway.services.context import Services
from gateway.settings import Settings


class CliContext:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._services: Services | None = None

    @property
    def services(self) -> Services:
        if self._services is None:
            from gateway.bootstrap import build_services

            self._services = build_services(self.settings)
        return self._services

    def close(self) -> None:
        if self._services is not None:
            self._services.close()


pass_cli = click.make_pass_decorator(CliContext)
