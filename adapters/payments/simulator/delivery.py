"""The simulator's outgoing callbacks: delayed, duplicated, shuffled or lost on purpose, and
retried with backoff when the gateway is down (as a real bank's webhook sender would)."""

from __future__ import annotations

import hashlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests


@dataclass
class Stats:
    queued: int = 0
    delivered: int = 0
    refused: int = 0  # the gateway answered 4xx: not retried
    given_up: int = 0
    lost: int = 0  # dropped on purpose (lost callbacks)
    dropped: int = 0  # nothing left to report (every item of it was cancelled)
    attempts: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    digests: set[str] = field(default_factory=set)  # SHA-256 of every body attempted


class Lazy:
    """A body decided when it is first due (the bank executes an item then, unless it was
    cancelled); every copy and retry of it then carries the same bytes. ``None``: nothing to
    send any more."""

    def __init__(self, build: Callable[[], bytes | None]) -> None:
        self._build, self._lock = build, threading.Lock()
        self._done = False
        self._body: bytes | None = None

    def __call__(self) -> bytes | None:
        with self._lock:
            if not self._done:
                self._body, self._done = self._build(), True
            return self._body


Body = bytes | Lazy


class Deliverer:
    def __init__(
        self, *, retries: int = 30, backoff: float = 0.5, verify: Any = True, threads: int = 1
    ) -> None:
        self.retries, self.backoff = retries, backoff
        self.stats = Stats()
        self._queue: list[tuple[float, int, str, Body, int]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._session = requests.Session()
        self._session.verify = verify
        self._busy = 0
        for _ in range(max(1, threads)):  # several: copies of a callback may arrive together
            threading.Thread(target=self._run, daemon=True).start()

    def send(self, url: str, body: Body, *, delay: float = 0.0) -> None:
        with self._cv:
            heapq.heappush(self._queue, (time.monotonic() + delay, next(self._seq), url, body, 0))
            self.stats.queued += 1
            self._cv.notify()

    def pending(self) -> int:
        with self._cv:
            return len(self._queue) + self._busy

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._queue or self._queue[0][0] > time.monotonic():
                    timeout = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._cv.wait(timeout)
                _due, _seq, url, body, attempt = heapq.heappop(self._queue)
                self._busy += 1
            try:
                self._attempt(url, body, attempt)
            finally:
                with self._cv:
                    self._busy -= 1

    def _attempt(self, url: str, lazy: Body, attempt: int) -> None:
        body = lazy() if isinstance(lazy, Lazy) else lazy
        if body is None:
            self.stats.dropped += 1
            return
        self.stats.attempts += 1
        self.stats.digests.add(hashlib.sha256(body).hexdigest())
        try:
            response = self._session.post(
                url, data=body, headers={"Content-Type": "application/json"}, timeout=10
            )
            status = response.status_code
        except requests.RequestException:
            status = 0
        self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
        if 200 <= status < 300:
            self.stats.delivered += 1
        elif 400 <= status < 500:
            self.stats.refused += 1
        elif attempt + 1 >= self.retries:
            self.stats.given_up += 1
        else:
            delay = min(10.0, self.backoff * 2**attempt)
            with self._cv:
                heapq.heappush(
                    self._queue, (time.monotonic() + delay, next(self._seq), url, body, attempt + 1)
                )
                self._cv.notify()
