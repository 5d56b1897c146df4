"""The development PKI (certs/dev) exists before anything that signs or speaks TLS starts."""

from __future__ import annotations

from gateway.devstack import Stack

ORDER = 0


def start(stack: Stack) -> None:
    from certs import pki

    report = pki.init(stack.settings().security.certs_dir)
    if report.created:
        stack.say(f"dev PKI: created {', '.join(report.created)} in {report.directory}")
