"""Development PKI commands."""

from __future__ import annotations

import click

from gateway.cli.context import CliContext, pass_cli
from gateway.cli.output import emit_json


def register(main: click.Group) -> None:
    main.add_command(certs)


@click.group()
def certs() -> None:
    """Dev CA, mutual-TLS certificates and Ed25519 signing keys (certs/README.md)."""


@certs.command("init")
@click.option("--force", is_flag=True, help="regenerate everything, even existing files")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def init(cli: CliContext, force: bool, as_json: bool) -> None:
    """Create the development PKI in ANSINH_CERTS_DIR (default certs/dev)."""
    from certs import pki

    report = pki.init(cli.settings.security.certs_dir, force=force)
    if as_json:
        emit_json(report.__dict__)
    else:
        click.echo(
            f"{report.directory}: created {', '.join(report.created) or 'nothing'}"
            f"; kept {', '.join(report.kept) or 'nothing'}"
        )


@certs.command("rotate")
@click.option("--kid", required=True, help="id of the new signing key, e.g. ansinh-dev-2")
@pass_cli
def rotate(cli: CliContext, kid: str) -> None:
    """Add a new Ed25519 signing key and republish signing/keys.json (old keys stay)."""
    from certs import pki

    directory = cli.settings.security.certs_dir
    if (directory / "signing" / f"{kid}.key").exists():
        raise click.ClickException(f"key {kid} already exists")
    pki.new_signing_key(directory, kid)
    pki.publish_keys(directory)
    click.echo(f"added {kid}; set ANSINH_SIGNING_KEY_ID={kid} once peers have the public key")
