"""Failure switches of the simulator: what can go wrong with a real registry, on demand.

Each switch is a rate in [0, 1] (1 = every call) drawn from a seeded generator, so a test that
sets a rate of 1 is deterministic. Switches change at run time through ``PUT /_admin/switches``.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

HOSTILE_KINDS = ("xxe", "billion_laughs", "oversized", "dtd")


@dataclass(frozen=True)
class Switches:
    latency_ms: float = 0.0  # added to every call
    error_rate: float = 0.0  # HTTP 503
    fault_rate: float = 0.0  # SOAP Fault / SPDCI "rjct" for the whole message
    timeout_rate: float = 0.0  # sleep ``timeout_seconds`` before answering
    timeout_seconds: float = 30.0
    malformed_rate: float = 0.0  # a body that is not XML / JSON
    hostile: str | None = None  # xxe | billion_laughs | oversized | dtd
    hostile_rate: float = 1.0
    # REST: answers signed with a key the gateway does not know; SOAP: a signed answer is
    # altered after it was signed
    bad_signature: bool = False
    expired_tokens: bool = False  # REST: every bearer token is refused as expired
    token_ttl: int = 300  # REST: lifetime of issued tokens (seconds)
    require_wsse: bool = False  # SOAP: refuse requests without a valid WS-Security signature
    wrong_request_hash: bool = False  # SOAP + X-Road: the answer's requestHash is another's
    require_signature: bool = True  # REST: refuse requests whose envelope signature fails

    def updated(self, changes: dict[str, Any]) -> Switches:
        known = {f.name: f.type for f in fields(self)}
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise ValueError(f"unknown switches: {', '.join(unknown)}")
        if changes.get("hostile") not in (None, *HOSTILE_KINDS):
            raise ValueError(f"hostile must be one of {', '.join(HOSTILE_KINDS)}")
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


SCRIPTED = (
    "ok",
    "error",
    "fault",
    "timeout",
    "malformed",
    "bad_signature",
    "expired_token",
    "wrong_request_hash",
    *(f"hostile:{k}" for k in HOSTILE_KINDS),
)


class Faults:
    """The live switches and the seeded draw that decides what happens to one call. A script
    (``PUT /_admin/script``) overrides the draw for the next calls, one entry each, in order."""

    def __init__(self, switches: Switches | None = None, seed: int = 0) -> None:
        self.switches = switches or Switches()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._script: deque[str] = deque()

    def script(self, steps: list[str]) -> None:
        unknown = [s for s in steps if s not in SCRIPTED]
        if unknown:
            raise ValueError(f"unknown script steps: {', '.join(unknown)}")
        with self._lock:
            self._script = deque(steps)

    def update(self, changes: dict[str, Any]) -> Switches:
        with self._lock:
            self.switches = self.switches.updated(changes)
            return self.switches

    def draw(self) -> str | None:
        """The failure for this call, or None: error, fault, timeout, malformed, hostile."""
        s = self.switches
        with self._lock:
            if self._script:
                step = self._script.popleft()
                return None if step == "ok" else step
            for name, rate in (
                ("timeout", s.timeout_rate),
                ("error", s.error_rate),
                ("fault", s.fault_rate),
                ("malformed", s.malformed_rate),
                ("hostile", s.hostile_rate if s.hostile else 0.0),
            ):
                if rate > 0 and self._rng.random() < rate:
                    return name
        return None


def hostile_xml(kind: str) -> bytes:
    """A SOAP answer carrying an attack; the gateway must refuse it without following it."""
    body = b"<soap:Body><r>&payload;</r></soap:Body>"
    env = b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    if kind == "xxe":
        dtd = b'<!DOCTYPE r [<!ENTITY payload SYSTEM "file:///etc/passwd">]>'
    elif kind == "billion_laughs":
        levels = [b'<!ENTITY l0 "ha">'] + [
            f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">'.encode() for i in range(1, 10)
        ]
        dtd = b"<!DOCTYPE r [" + b"".join(levels) + b'<!ENTITY payload "&l9;">]>'
    elif kind == "dtd":
        dtd = b'<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">'
        body = b"<soap:Body><r/></soap:Body>"
    else:  # oversized: well-formed, just far too big
        return (
            env
            + b"<soap:Body><r>"
            + b"A" * (12 * 1024 * 1024)
            + b"</r></soap:Body></soap:Envelope>"
        )
    return b'<?xml version="1.0"?>' + dtd + env + body + b"</soap:Envelope>"


def hostile_json(kind: str) -> bytes:
    if kind == "oversized":
        return b'{"pad": "' + b"A" * (12 * 1024 * 1024) + b'"}'
    return b'{"signature": "", "header": {}, "message": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
