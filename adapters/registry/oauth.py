"""OAuth2 client credentials (RFC 6749 §4.4) for the registry's REST API.

Small enough to write here rather than add ``oauthlib`` + ``requests-oauthlib``: one form POST,
a cached token renewed ``REFRESH_MARGIN`` seconds before it expires, and ``invalidate()`` for a
401 that says the token is no longer good. The token endpoint goes through the same session
(timeouts, mutual TLS) as every other registry call.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import requests

from adapters.http import check_status, read_limited, timeouts, translate
from adapters.registry import errors
from gateway.settings import HttpSettings

REFRESH_MARGIN = 30.0


class TokenSource:
    def __init__(
        self,
        session: requests.Session,
        http: HttpSettings,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session, self.http = session, http
        self.token_url, self.client_id, self.client_secret = token_url, client_id, client_secret
        self.clock = clock
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()
        self.fetched = 0  # how many tokens were obtained (tests, metrics)

    def token(self) -> str:
        with self._lock:
            if self._token is None or self.clock() >= self._expires - REFRESH_MARGIN:
                self._token, lifetime = self._fetch()
                self._expires = self.clock() + lifetime
            return self._token

    def invalidate(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    def _fetch(self) -> tuple[str, float]:
        try:
            response = self.session.post(
                self.token_url,
                data={"grant_type": "client_credentials"},
                auth=(self.client_id, self.client_secret),
                timeout=timeouts(self.http),
            )
        except requests.RequestException as exc:
            raise translate(exc, errors.SYSTEM) from exc
        check_status(response, errors.SYSTEM)
        try:
            body = json.loads(read_limited(response, 64 * 1024, errors.SYSTEM))
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        token, lifetime = body.get("access_token"), body.get("expires_in", 300)
        if not isinstance(token, str) or not isinstance(lifetime, int | float):
            raise errors.protocol(errors.MALFORMED_RESPONSE, "the token endpoint gave no token")
        self.fetched += 1
        return token, float(lifetime)
