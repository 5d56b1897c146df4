"""What ``make run`` starts, piece by piece.

Each module here is one component of the local stack (a simulator, the demo data, …) with
``ORDER`` (start order) and ``start(stack)``. A component may start processes (stopped on exit)
and set ``ANSINH_*`` overrides that the gateway then runs with — e.g. the registry simulator
points ``ANSINH_REGISTRY_BACKEND`` at itself. Areas add a module; nobody edits a shared list.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from gateway.settings import Settings


@dataclass
class Stack:
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)  # ANSINH_* overrides for the gateway
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    urls: list[tuple[str, str]] = field(default_factory=list)  # (what, url) printed at the end
    notes: list[str] = field(default_factory=list)
    say: Callable[[str], None] = print

    def settings(self) -> Settings:
        return Settings.from_env({**os.environ, **self.env})

    def environ(self) -> dict[str, str]:
        """The environment a child of the stack runs with."""
        return {**os.environ, **self.env}

    def spawn(self, name: str, args: list[str], *, port: int | None = None) -> None:
        """Start ``ansinh <args>`` in the background; wait for its port if one is given."""
        with (self.data_dir / f"{name}.log").open("ab") as log:  # the child keeps its own copy
            proc = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
                [sys.executable, "-m", "gateway.cli", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environ(),
            )
        self.processes.append(proc)
        if port is not None and not wait_for_port(port, proc):
            raise RuntimeError(f"{name} did not start; see {self.data_dir / (name + '.log')}")

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


def components() -> list[ModuleType]:
    package = sys.modules[__name__]
    found = [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
    ]
    return sorted((m for m in found if hasattr(m, "start")), key=lambda m: m.ORDER)
