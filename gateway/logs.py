"""Structured JSON logs with personal numbers masked.

Every record passes a filter that masks runs of 9–19 digits (personal IDs, CMND and account
numbers) as ``079*******45``, in the message and in extra fields — a last line of defence; code
logs counts and references, never people. zeep's transport logs whole SOAP envelopes at DEBUG,
so that logger is pinned to WARNING.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import re
import secrets
import sys
from typing import Any

_NUMBER = re.compile(r"(?<!\d)(\d{3})(\d{4,14})(\d{2})(?!\d)")
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}
QUIET_LOGGERS = ("zeep.transports", "zeep.wsdl", "zeep.xsd", "urllib3.connectionpool")


def mask_numbers(text: str) -> str:
    return _NUMBER.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + m.group(3), text)


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_numbers(value)
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) >= 9:
        return mask_numbers(str(value))
    return value


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_numbers(record.getMessage())
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD:
                setattr(record, key, _mask(value))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                body[key] = value
        if record.exc_info:
            body["exc"] = mask_numbers(self.formatException(record.exc_info))
        return json.dumps(body, ensure_ascii=False, default=str)


class _GatewayHandler(logging.StreamHandler):
    """Ours, so a second configure() replaces it instead of stacking handlers."""


def configure(level: str = "INFO", *, json_output: bool = True, stream: Any = None) -> None:
    handler = _GatewayHandler(stream or sys.stderr)
    handler.addFilter(MaskingFilter())
    handler.setFormatter(
        JsonFormatter()
        if json_output
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, _GatewayHandler):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


# a caller's own X-Request-ID is kept when it is a short token (anything else is replaced)
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def new_request_id() -> str:
    """128 random bits in lower-case base32, a hyphen every 8 characters: never 9 digits in a
    row, so the log masking of personal numbers never alters it and the id in the log is the
    id in the response header (a hex UUID has a 9-digit run about one time in four)."""
    raw = base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()
    return "-".join(raw[i : i + 8] for i in range(0, len(raw), 8))


def init_request_logging(app: Any) -> None:
    """One JSON line per request (method, endpoint, status, duration, request id) and the
    request id echoed in ``X-Request-ID``. Paths never carry personal IDs (lookups are POST)."""
    import time

    from flask import g, request

    log = logging.getLogger("ansinh.http")

    @app.before_request
    def _start() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _CLIENT_REQUEST_ID.fullmatch(given) else new_request_id()
        g.request_started = time.perf_counter()

    @app.after_request
    def _done(response: Any) -> Any:
        started = g.pop("request_started", None)
        ms = round((time.perf_counter() - started) * 1000, 2) if started else None
        response.headers["X-Request-ID"] = g.get("request_id", "")
        log.info(
            "request",
            extra={
                "method": request.method,
                "endpoint": request.endpoint,
                "status": response.status_code,
                "ms": ms,
                "request_id": g.get("request_id"),
            },
        )
        return response
