"""``ansinh simulate …``: the simulators of the external systems, one subcommand each.

Areas add their simulator with ``simulate_group.add_command(...)`` from their own CLI module.
"""

from __future__ import annotations

import click


@click.group("simulate")
def simulate_group() -> None:
    """Real HTTP services that behave like the registry, provinces, banks and the post office."""


def register(main: click.Group) -> None:
    main.add_command(simulate_group)
