"""Shared by the HTTP benchmarks: start a server process on 127.0.0.1, wait for it, and post a
bounded list of bodies from a few client processes (one short connection per request, as
gunicorn's sync workers close after each answer), timing every request."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
TIMEOUT = 15.0  # per request; a stuck server fails the benchmark instead of hanging it


def gunicorn_flags() -> list[str]:
    """gunicorn ≥ 24 opens a control socket at one path per user: several at once collide."""
    from gunicorn.config import KNOWN_SETTINGS

    names = {s.name for s in KNOWN_SETTINGS}
    return ["--no-control-socket"] if "control_socket_disable" in names else []


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """A server subprocess in its own process group, stopped (TERM, then KILL) on exit."""

    def __init__(self, argv: list[str], env: dict[str, str], port: int, log: Path) -> None:
        self.port, self.log = port, log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(
            argv, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, path: str = "/health", timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://{HOST}:{self.port}{path}"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: see {self.log}")
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"server not ready after {timeout} s: see {self.log}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._out.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class LoadResult:
    requests: int
    ok: int
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]

    @property
    def per_s(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile_ms(self, q: float) -> float:
        if len(self.latencies) < 2:
            return 0.0
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return round(cuts[int(q) - 1] * 1000, 2)


def _post_slice(args: tuple[int, str, list[bytes]]) -> tuple[list[float], dict[int, int]]:
    port, path, bodies = args
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        "Connection: close\r\nContent-Length: {}\r\n\r\n"
    )
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    for body in bodies:
        request = head.format(len(body)).encode() + body
        started = time.perf_counter()
        with socket.create_connection((HOST, port), timeout=TIMEOUT) as s:
            s.sendall(request)
            first = s.recv(65536)
            while s.recv(65536):
                pass
        latencies.append(time.perf_counter() - started)
        status = int(first[9:12]) if first[:5] == b"HTTP/" else 0
        statuses[status] = statuses.get(status, 0) + 1
    return latencies, statuses


def post_all(port: int, path: str, bodies: list[bytes], concurrency: int) -> LoadResult:
    """Post every body once from ``concurrency`` client processes; bounded by the list."""
    slices = [bodies[i::concurrency] for i in range(concurrency)]
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(concurrency, mp_context=context) as pool:
        pool.submit(int).result()  # the workers exist before the clock starts
        started = time.perf_counter()
        parts = list(pool.map(_post_slice, [(port, path, s) for s in slices]))
        seconds = time.perf_counter() - started
    latencies = [x for lat, _ in parts for x in lat]
    statuses: dict[int, int] = {}
    for _, counts in parts:
        for status, n in counts.items():
            statuses[status] = statuses.get(status, 0) + n
    return LoadResult(len(bodies), statuses.get(200, 0), seconds, latencies, statuses)


def peak_rss_mb_of_children() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
