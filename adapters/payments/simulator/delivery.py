"""The simulator's outgoing callbacks: delayed, duplicated, shuffled or lost on purpose, and
retried with backoff when the gateway is down (as a real bank's webhook sender would)."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
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
    attempts: int = 0
    by_status: dict[int, int] = field(default_factory=dict)


class Deliverer:
    def __init__(self, *, retries: int = 30, backoff: float = 0.5, verify: Any = True) -> None:
        self.retries, self.backoff = retries, backoff
        self.stats = Stats()
        self._queue: list[tuple[float, int, str, bytes, int]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._session = requests.Session()
        self._session.verify = verify
        self._busy = 0
        threading.Thread(target=self._run, daemon=True).start()

    def send(self, url: str, body: bytes, *, delay: float = 0.0) -> None:
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

    def _attempt(self, url: str, body: bytes, attempt: int) -> None:
        self.stats.attempts += 1
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
