"""``make run``: the bank (G2P Connect over mutual TLS) and the post office, serving the generated
world's accounts, and the gateway pointed at them.

The demo data component runs before the gateway's HTTP server starts, so the bank's
``on-disburse`` callbacks cannot arrive then. The demo therefore confirms by *status query*
(G2P ``txn/status``, the same recovery path the scheduled job uses for lost callbacks), and the
simulator keeps retrying its callbacks with backoff: once the gateway is up they arrive, are
recognised as already applied (same items), and change nothing — which ``make run`` thereby
shows. Set ``ANSINH_PAYMENTS_BACKEND`` yourself to keep the fakes (``fake``) or other URLs.
"""

from __future__ import annotations

import os
from pathlib import Path

from gateway.devstack import Stack

ORDER = 20
BANK_PORT, POSTOFFICE_PORT = 8090, 8091


def start(stack: Stack) -> None:
    if "ANSINH_PAYMENTS_BACKEND" in os.environ:
        return  # the person running the stack chose the rails
    world = Path(stack.env["ANSINH_DEVSTACK_WORLD"])
    settings = stack.settings()
    stack.spawn(
        "bank-sim",
        [
            "simulate",
            "bank",
            "--port",
            str(BANK_PORT),
            "--tls",
            "--accounts",
            str(world / "accounts.csv"),
            "--duplicate-callbacks",
            "2",
            "--shuffle",
            "--lost-rate",
            "0.02",
        ],
        port=BANK_PORT,
    )
    stack.spawn(
        "postoffice-sim",
        ["simulate", "postoffice", "--port", str(POSTOFFICE_PORT), "--tls"],
        port=POSTOFFICE_PORT,
    )
    stack.env.update(
        {
            "ANSINH_PAYMENTS_BACKEND": "bank_rest",
            "ANSINH_BANK_URL": f"https://127.0.0.1:{BANK_PORT}",
            "ANSINH_POSTOFFICE_URL": f"https://127.0.0.1:{POSTOFFICE_PORT}",
            "ANSINH_PAYMENTS_MTLS": "true",
            "ANSINH_CALLBACK_BASE_URL": f"http://{settings.host}:{settings.port}",
        }
    )
    stack.urls.append(("bank sim", f"https://127.0.0.1:{BANK_PORT}/_sim/stats"))
    stack.urls.append(("post office", f"https://127.0.0.1:{POSTOFFICE_PORT}/return-files"))
