"""``make run``: the province simulator serves the generated world's lists over its paged REST
API, and the gateway reads them through it (the demo's intake step imports them on start)."""

from __future__ import annotations

import socket

from gateway.devstack import Stack

ORDER = 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(stack: Stack) -> None:
    world = stack.env.get("ANSINH_DEVSTACK_WORLD")
    if not world:
        stack.notes.append("province simulator not started: no generated world")
        return
    port = free_port()
    stack.spawn(
        "province-sim", ["simulate", "province", "--world", world, "--port", str(port)], port=port
    )
    url = f"http://127.0.0.1:{port}"
    stack.env["ANSINH_WELFARE_BACKEND"] = "rest"
    stack.env["ANSINH_WELFARE_URL"] = url
    stack.urls.append(("province simulator (welfare REST)", f"{url}/api/v1/lists"))
