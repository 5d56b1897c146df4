"""Simulators of the bank and the post office: real HTTP services speaking the real protocols,
with configurable misbehaviour, for integration tests, the demo and ``make run``."""

from __future__ import annotations

import ssl
import threading
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server


def tls_context(certs_dir: Path) -> ssl.SSLContext:
    """Server side of mutual TLS: our dev server certificate, clients must present one too."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(certs_dir / "ca.crt"))
    context.load_cert_chain(str(certs_dir / "server.crt"), str(certs_dir / "server.key"))
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def serve_in_thread(
    app: Any, port: int = 0, *, ssl_context: ssl.SSLContext | None = None
) -> tuple[BaseWSGIServer, str]:
    """Start on 127.0.0.1 (an ephemeral port by default); returns the server and its base URL."""
    server = make_server("127.0.0.1", port, app, threaded=True, ssl_context=ssl_context)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    scheme = "https" if ssl_context else "http"
    return server, f"{scheme}://127.0.0.1:{server.server_port}"
