"""Outbound HTTP for every adapter: pooled sessions, explicit timeouts, mutual TLS, and one
resilience policy — bounded retries with capped exponential backoff and full jitter (only for
retryable failures), a circuit breaker, and a concurrency limit. Library errors are translated
here, at the boundary, into ``gateway.errors`` with a ``retryable`` flag.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import requests
from requests.adapters import HTTPAdapter

from gateway.errors import (
    GatewayError,
    UpstreamProtocolError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.settings import HttpSettings

T = TypeVar("T")
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class TlsFiles:
    """Paths (never contents) of a client certificate, its key and the peers' CA bundle."""

    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None

    @classmethod
    def from_certs_dir(cls, certs_dir: Path, *, mutual: bool) -> TlsFiles:
        ca = certs_dir / "ca.crt"
        if not mutual:
            return cls(ca=ca if ca.exists() else None)
        return cls(certs_dir / "client.crt", certs_dir / "client.key", ca if ca.exists() else None)


def build_session(
    http: HttpSettings,
    tls: TlsFiles | None = None,
    *,
    pool: int | None = None,
    proxy: str | None = None,
) -> requests.Session:
    """A session whose pool fits the concurrency limit; retries are ours, not urllib3's.

    It takes nothing from the environment: requests would let REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE
    override ``session.verify`` (psf/requests#3829), silently swapping a pinned peer CA for the
    system store, and it scans every environment variable for proxies on each request (~0.8 ms
    of CPU a call). A proxy, where one is needed, is configured explicitly.
    """
    session = requests.Session()
    session.trust_env = False
    if proxy:
        session.proxies = {"http": proxy, "https": proxy}
    size = pool or http.max_concurrency
    adapter = HTTPAdapter(pool_connections=size, pool_maxsize=size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if tls is not None:
        if tls.cert and tls.key:
            session.cert = (str(tls.cert), str(tls.key))
        if tls.ca:
            session.verify = str(tls.ca)
    return session


def timeouts(http: HttpSettings) -> tuple[float, float]:
    return (http.connect_timeout, http.read_timeout)


def translate(exc: Exception, system: str) -> GatewayError:
    """requests' exceptions → our hierarchy (``raise translate(exc, …) from exc``)."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, requests.Timeout):
        return UpstreamTimeout(
            f"{system} did not answer in time",
            f"{system} không phản hồi kịp",
            code=f"{system}.timeout",
        )
    if isinstance(exc, requests.ConnectionError):
        return UpstreamUnavailable(
            f"{system} is unreachable", f"không kết nối được {system}", code=f"{system}.unavailable"
        )
    return UpstreamProtocolError(
        f"{system} call failed: {type(exc).__name__}",
        f"lỗi khi gọi {system}",
        code=f"{system}.protocol",
    )


def check_status(response: requests.Response, system: str) -> None:
    """Raise for HTTP errors: 5xx/429/409/408 are retryable, other 4xx are not."""
    status = response.status_code
    if status < 400:
        return
    detail = {"http_status": status}
    if status in RETRYABLE_STATUS:
        raise UpstreamUnavailable(
            f"{system} answered HTTP {status}",
            f"{system} trả lời lỗi HTTP {status}",
            code=f"{system}.http_{status}",
            detail=detail,
        )
    raise UpstreamRejected(
        f"{system} refused the request (HTTP {status})",
        f"{system} từ chối yêu cầu (HTTP {status})",
        code=f"{system}.http_{status}",
        detail=detail,
    )


def read_limited(response: requests.Response, max_bytes: int, system: str) -> bytes:
    """The body, refusing anything larger than ``max_bytes`` (a hostile or broken peer)."""
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise _too_big(system, max_bytes)
    chunks, size = [], 0
    for chunk in response.iter_content(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            response.close()
            raise _too_big(system, max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_big(system: str, limit: int) -> UpstreamProtocolError:
    return UpstreamProtocolError(
        f"{system} answer is larger than {limit} bytes",
        f"phản hồi của {system} vượt quá {limit} byte",
        code=f"{system}.oversized",
    )


class CircuitOpen(UpstreamUnavailable):
    code = "circuit.open"


@dataclass
class CircuitBreaker:
    """Closed → open after ``failures`` consecutive retryable failures; after ``reset_seconds``
    one trial call is let through (half-open); its success closes the circuit again."""

    failures: int
    reset_seconds: float
    clock: Callable[[], float] = time.monotonic
    _count: int = 0
    _opened_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self.clock() - self._opened_at >= self.reset_seconds else "open"

    def before(self, system: str) -> None:
        with self._lock:
            if self.state == "open":
                raise CircuitOpen(
                    f"{system} is failing; calls paused for a while",
                    f"{system} đang lỗi; tạm dừng gọi",
                    code=f"{system}.circuit_open",
                )

    def success(self) -> None:
        with self._lock:
            self._count, self._opened_at = 0, None

    def failure(self) -> None:
        with self._lock:
            self._count += 1
            if self._count >= self.failures or self.state == "half_open":
                self._opened_at = self.clock()


class Resilience:
    """Retry, breaker and concurrency limit around one call. Sleep and jitter are injectable so
    tests run instantly and deterministically."""

    def __init__(
        self,
        http: HttpSettings,
        system: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.system = system
        self.max_retries = http.max_retries
        self.base, self.cap = http.backoff_base, http.backoff_max
        self.breaker = CircuitBreaker(http.breaker_failures, http.breaker_reset_seconds)
        self.slots = threading.BoundedSemaphore(http.max_concurrency)
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret

    def delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base × 2^attempt)]."""
        return self._rng.uniform(0, min(self.cap, self.base * 2**attempt))

    def call(self, fn: Callable[[], T], *, retry: bool = True) -> T:
        """``retry=False`` for calls that must not be repeated blindly (a payment submit)."""
        attempt = 0
        while True:
            self.breaker.before(self.system)
            try:
                with self.slots:
                    result = fn()
            except Exception as exc:
                error = translate(exc, self.system)
                if error.retryable:
                    self.breaker.failure()
                if not (retry and error.retryable and attempt < self.max_retries):
                    if error is exc:
                        raise
                    raise error from exc
                self._sleep(self.delay(attempt))
                attempt += 1
                continue
            self.breaker.success()
            return result
