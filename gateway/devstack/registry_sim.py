"""The population-registry simulator for ``make run``: serves the generated world's population
(and its registry ticks) over SOAP and REST, and points the gateway at it over SOAP, so a
newcomer's first run — and the demo data loaded at its end — goes through the real adapter."""

from __future__ import annotations

import socket

from gateway.devstack import Stack

ORDER = 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(stack: Stack) -> None:
    port = free_port()
    args = [
        "simulate",
        "registry",
        "--port",
        str(port),
        "--db",
        str(stack.data_dir / "registry-sim.db"),
    ]
    world = stack.env.get("ANSINH_DEVSTACK_WORLD")
    if world:
        args += ["--world", world]
    stack.spawn("registry-sim", args, port=port)
    base = f"http://127.0.0.1:{port}"
    stack.env.update(
        {
            "ANSINH_REGISTRY_BACKEND": "soap",
            "ANSINH_REGISTRY_URL": f"{base}/soap",
            "ANSINH_REGISTRY_WSDL_URL": f"{base}/soap?wsdl",
            "ANSINH_REGISTRY_MAPPING": "registry/default.toml",
            # the REST side of the same simulator, for `ansinh registry subscribe` and friends
            "ANSINH_REGISTRY_OAUTH_TOKEN_URL": f"{base}/oauth2/client/token",
            "ANSINH_REGISTRY_OAUTH_CLIENT_ID": "ansinh-gateway",
            "ANSINH_REGISTRY_OAUTH_CLIENT_SECRET": "dev-secret",
        }
    )
    stack.urls.append(("registry", f"{base}/soap?wsdl"))
    stack.notes.append(
        f"registry simulator: SOAP {base}/soap, REST {base}/registry/…, "
        f"failure switches and change events at {base}/_admin/ (docs/registry.md)"
    )
