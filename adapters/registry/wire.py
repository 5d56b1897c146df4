"""SOAP POSTs over a urllib3 connection pool, with the same timeouts, mutual TLS and error
translation as ``adapters.http``.

Why not the requests session every other adapter uses: measured on this project's machines,
``requests`` spends ~0.5–0.9 ms of CPU per call on session merging, hooks and header handling —
more than the registry spends answering a lookup — while urllib3 (which requests itself runs
on) needs ~0.3 ms. The retry/breaker/concurrency policy stays ``adapters.http.Resilience``.
"""

from __future__ import annotations

import ssl

import urllib3
from urllib3.exceptions import HTTPError, TimeoutError

from adapters.http import RETRYABLE_STATUS, TlsFiles
from gateway.errors import (
    GatewayError,
    UpstreamProtocolError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.settings import HttpSettings

CHUNK = 64 * 1024


class Wire:
    def __init__(
        self,
        http: HttpSettings,
        system: str,
        *,
        tls: TlsFiles | None = None,
        maxsize: int | None = None,
        proxy: str | None = None,
    ) -> None:
        self.system = system
        self.max_bytes = http.max_response_bytes
        kwargs: dict[str, object] = {
            "maxsize": maxsize or http.max_concurrency,
            "retries": False,
            "timeout": urllib3.Timeout(connect=http.connect_timeout, read=http.read_timeout),
        }
        if tls is not None:
            if tls.cert and tls.key:
                kwargs.update(cert_file=str(tls.cert), key_file=str(tls.key))
            if tls.ca:
                kwargs.update(ca_certs=str(tls.ca), cert_reqs=ssl.CERT_REQUIRED)
        self._targets: dict[str, tuple[urllib3.HTTPConnectionPool, str]] = {}
        self.proxied = proxy is not None
        self.pool: urllib3.PoolManager = (
            urllib3.ProxyManager(proxy, **kwargs) if proxy else urllib3.PoolManager(**kwargs)  # type: ignore[arg-type]
        )

    def _target(self, url: str) -> tuple[urllib3.HTTPConnectionPool, str]:
        """The connection pool and path for a URL, looked up once (not per call)."""
        found = self._targets.get(url)
        if found is None:
            parsed = urllib3.util.parse_url(url)
            pool = self.pool.connection_from_url(url)
            found = self._targets[url] = (pool, parsed.request_uri)
        return found

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """(status, body); the body is refused past ``max_response_bytes``."""
        try:
            if self.proxied:  # the proxy manager decides pools, paths and tunnels
                response = self.pool.urlopen(
                    "POST", url, body=body, headers=headers, preload_content=False, retries=False
                )
            else:
                pool, path = self._target(url)
                response = pool.urlopen(
                    "POST", path, body=body, headers=headers, preload_content=False, retries=False
                )
        except TimeoutError as exc:
            raise self._timeout() from exc
        except HTTPError as exc:
            raise self._unavailable(type(exc).__name__) from exc
        try:
            return response.status, self._read(response)
        except TimeoutError as exc:
            raise self._timeout() from exc
        except HTTPError as exc:
            raise self._unavailable(type(exc).__name__) from exc
        finally:
            response.release_conn()

    def _read(self, response: urllib3.BaseHTTPResponse) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            response.drain_conn()
            raise self._too_big()
        chunks, size = [], 0
        for chunk in response.stream(CHUNK):
            size += len(chunk)
            if size > self.max_bytes:
                response.drain_conn()
                raise self._too_big()
            chunks.append(chunk)
        return b"".join(chunks)

    def check_status(self, status: int) -> None:
        """As ``adapters.http.check_status``: 5xx/429/409/408 retryable, other 4xx not."""
        if status < 400:
            return
        code, detail = f"{self.system}.http_{status}", {"http_status": status}
        if status in RETRYABLE_STATUS:
            raise UpstreamUnavailable(
                f"{self.system} answered HTTP {status}",
                f"{self.system} trả lời lỗi HTTP {status}",
                code=code,
                detail=detail,
            )
        raise UpstreamRejected(
            f"{self.system} refused the request (HTTP {status})",
            f"{self.system} từ chối yêu cầu (HTTP {status})",
            code=code,
            detail=detail,
        )

    def close(self) -> None:
        self._targets.clear()
        self.pool.clear()

    def _timeout(self) -> GatewayError:
        return UpstreamTimeout(
            f"{self.system} did not answer in time",
            f"{self.system} không phản hồi kịp",
            code=f"{self.system}.timeout",
        )

    def _unavailable(self, why: str) -> GatewayError:
        return UpstreamUnavailable(
            f"{self.system} is unreachable ({why})",
            f"không kết nối được {self.system}",
            code=f"{self.system}.unavailable",
        )

    def _too_big(self) -> GatewayError:
        return UpstreamProtocolError(
            f"{self.system} answer is larger than {self.max_bytes} bytes",
            f"phản hồi của {self.system} vượt quá {self.max_bytes} byte",
            code=f"{self.system}.oversized",
        )
