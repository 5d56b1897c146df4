"""Where `make run`'s officer workspace and public pages are (printed with the other URLs)."""

from __future__ import annotations

from gateway.devstack import Stack

ORDER = 95


def start(stack: Stack) -> None:
    settings = stack.settings()
    base = f"http://{settings.host}:{settings.port}"
    stack.urls.append(("officer UI", f"{base}/login"))
    stack.urls.append(("public", f"{base}/cong-khai/tra-cuu"))
