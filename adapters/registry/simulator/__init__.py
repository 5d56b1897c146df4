"""The population-registry simulator (``ansinh simulate registry``): a real HTTP service that
speaks the registry's SOAP (WSDL-driven) and SPDCI REST protocols over a SQLite population."""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from adapters.registry.simulator.app import RegistrySimulator, SimulatorConfig

__all__ = ["RegistrySimulator", "Running", "SimulatorConfig", "start"]


@dataclass
class Running:
    """A simulator serving on a background thread (tests, benchmarks)."""

    app: RegistrySimulator
    server: BaseWSGIServer
    thread: threading.Thread
    url: str

    @property
    def wsdl_url(self) -> str:
        return f"{self.url}/soap?wsdl"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def start(
    app: RegistrySimulator,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
) -> Running:
    server = make_server(host, port, app, threaded=True, ssl_context=ssl_context)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="registry-sim",
        daemon=True,
    )
    thread.start()
    scheme = "https" if ssl_context else "http"
    return Running(app, server, thread, f"{scheme}://{host}:{server.server_port}")


def mutual_tls_context(certs_dir: Path) -> ssl.SSLContext:
    """Server side of mutual TLS: our certificate, and client certificates required (dev CA)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs_dir / "server.crt", certs_dir / "server.key")
    context.load_verify_locations(certs_dir / "ca.crt")
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def serve_forever(app: Any, host: str, port: int) -> None:
    make_server(host, port, app, threaded=True).serve_forever()
