"""The registry simulator as one WSGI application: SOAP (WSDL served at ``/soap?wsdl``), the
SPDCI REST API, OAuth2 tokens, and ``/_admin`` endpoints to flip failure switches, emit change
events (deaths, re-issued IDs, moves) and see what requests carried (never payloads)."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.wrappers import Request, Response

from adapters.registry.mapping import RegistryMapping
from adapters.registry.port import Residence
from adapters.registry.simulator import faults as F
from adapters.registry.simulator.rest_service import RestError, RestService
from adapters.registry.simulator.soap_service import SoapService, fault
from adapters.registry.simulator.store import Event, Store
from adapters.registry.soap_headers import TimestampedSignature

MAX_BODY = 20 * 1024 * 1024
DEFAULT_WSDL = Path(__file__).with_name("registry.wsdl")


@dataclass
class SimulatorConfig:
    store: Store
    mapping: RegistryMapping
    wsdl: Path = DEFAULT_WSDL
    certs_dir: Path | None = None
    switches: F.Switches | None = None
    seed: int = 0
    clients: dict[str, str] | None = None


class RegistrySimulator:
    def __init__(self, config: SimulatorConfig) -> None:
        self.store = config.store
        self.faults = F.Faults(config.switches, seed=config.seed)
        certs = config.certs_dir
        cert = certs / "client.crt" if certs else None
        signer = None  # a registry that checks signatures on requests signs its answers too
        if certs is not None and (certs / "server.key").exists():
            key, crt = (certs / "server.key").read_bytes(), (certs / "server.crt").read_bytes()
            signer = TimestampedSignature(key, crt)
        self.soap = SoapService(
            config.store,
            config.mapping,
            config.wsdl,
            wsse_cert=cert.read_bytes() if cert and cert.exists() else None,
            answer_signer=signer,
        )
        self.rest = RestService(config.store, certs_dir=config.certs_dir, clients=config.clients)
        self.requests: deque[dict[str, Any]] = deque(maxlen=200)
        self._rng = random.Random(config.seed + 1)
        self._emit_lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = MAX_BODY
        try:
            response = self.dispatch(request)
        except HTTPException as exc:
            response = _json({"error": exc.name, "detail": exc.description}, exc.code or 500)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if path == "/health":
            return _json({"status": "ok", "people": self.store.count()})
        if path.startswith("/_admin/"):
            return self.admin(request)
        if request.method == "GET" and path in ("/soap", "/registry.wsdl"):
            return Response(
                self.soap.wsdl(request.host_url + "soap"), content_type="text/xml; charset=utf-8"
            )
        if request.method != "POST":
            raise NotFound()
        if path == "/oauth2/client/token":
            return self.token(request)
        if path == "/soap":
            return self.with_faults(self.soap_call, request, rest=False)
        if path.startswith("/registry/"):
            return self.with_faults(self.rest_call, request, rest=True)
        raise NotFound()

    # -- failure switches --------------------------------------------------------------------
    def with_faults(self, handler: Any, request: Request, *, rest: bool) -> Response:
        switches = self.faults.switches
        if switches.latency_ms:
            time.sleep(switches.latency_ms / 1000)
        failure = self.faults.draw()
        if failure is not None and failure.startswith("hostile:"):
            failure, switches = "hostile", replace(switches, hostile=failure.split(":", 1)[1])
        elif failure in ("bad_signature", "expired_token", "wrong_request_hash"):
            switches = replace(
                switches,
                bad_signature=failure == "bad_signature",
                expired_tokens=failure == "expired_token",
                wrong_request_hash=failure == "wrong_request_hash",
            )
            failure = None
        if failure == "timeout":
            time.sleep(switches.timeout_seconds)
        elif failure == "error":
            return Response(b"service unavailable", status=503, content_type="text/plain")
        elif failure == "malformed":
            body = b'{"header": {"status": ' if rest else b"<soap:Envelope><soap:Body><broken"
            return Response(body, content_type="application/json" if rest else "text/xml")
        elif failure == "hostile":
            kind = switches.hostile or "xxe"
            body = F.hostile_json(kind) if rest else F.hostile_xml(kind)
            return Response(body, content_type="application/json" if rest else "text/xml")
        elif failure == "fault":
            if rest:
                return _json(self.rest.fault(request.get_data(), switches))
            return Response(
                fault("soap:Server", "simulated registry fault"),
                status=500,
                content_type="text/xml; charset=utf-8",
            )
        return handler(request, switches)

    def soap_call(self, request: Request, switches: F.Switches) -> Response:
        data = request.get_data()
        body, info, is_fault = self.soap.handle(
            data,
            require_wsse=switches.require_wsse,
            wrong_request_hash=switches.wrong_request_hash,
            tamper_answer=switches.bad_signature,
        )
        if info is not None:
            self.requests.append({"protocol": "soap", **asdict(info)})
        soap12 = (request.content_type or "").startswith("application/soap+xml")
        kind = "application/soap+xml" if soap12 else "text/xml"
        return Response(
            body, status=500 if is_fault else 200, content_type=f"{kind}; charset=utf-8"
        )

    def rest_call(self, request: Request, switches: F.Switches) -> Response:
        raw = request.get_data()
        try:
            status, body = self.rest.handle(
                request.path, raw, request.headers.get("Authorization", ""), switches
            )
        except RestError as exc:
            headers = (
                {"WWW-Authenticate": f'Bearer error="{exc.code}"'} if exc.status == 401 else {}
            )
            return _json({"error": {"code": exc.code, "message": exc.message}}, exc.status, headers)
        self.requests.append({"protocol": "rest", "path": request.path, "signed": True})
        return _json(body, status)

    def token(self, request: Request) -> Response:
        form = request.form
        if form.get("grant_type") != "client_credentials":
            return _json({"error": "unsupported_grant_type"}, 400)
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if request.authorization and request.authorization.type == "basic":
            client_id = request.authorization.username or ""
            secret = request.authorization.password or ""
        try:
            return _json(self.rest.tokens.issue(client_id, secret, self.faults.switches.token_ttl))
        except RestError as exc:
            return _json({"error": exc.code, "error_description": exc.message}, exc.status)

    # -- admin ------------------------------------------------------------------------------
    def admin(self, request: Request) -> Response:
        name = request.path.removeprefix("/_admin/")
        if name == "switches":
            if request.method == "PUT":
                try:
                    self.faults.update(request.get_json(force=True) or {})
                except (ValueError, TypeError) as exc:
                    return _json({"error": str(exc)}, 400)
            return _json(self.faults.switches.as_dict())
        if name == "requests":
            return _json(list(self.requests))
        if name == "script" and request.method == "PUT":
            try:
                self.faults.script(list(request.get_json(force=True) or []))
            except (ValueError, TypeError) as exc:
                return _json({"error": str(exc)}, 400)
            return _json({"ok": True})
        if name == "emit" and request.method == "POST":
            try:
                events = self.emit(request.get_json(force=True) or {})
            except (ValueError, KeyError) as exc:
                return _json({"error": str(exc)}, 400)
            return _json({"emitted": [_event_dict(e) for e in events]})
        raise NotFound()

    def emit(self, order: dict[str, Any]) -> list[Event]:
        """Tell the registry that people died, got a new ID number, or moved."""
        kind = order.get("kind")
        if kind not in ("death", "reissue", "move"):
            raise ValueError("kind must be death, reissue or move")
        with self._emit_lock:
            pids = (
                [order["pid"]]
                if order.get("pid")
                else self.store.sample_alive(
                    int(order.get("count", 1)),
                    self._rng.randrange(0, max(1, self.store.count() // 2)),
                )
            )
            events = [self._emit_one(kind, pid, order) for pid in pids]
        for event in events:
            self.rest.notify(event, self.faults.switches)
        return events

    def _emit_one(self, kind: str, pid: str, order: dict[str, Any]) -> Event:
        if self.store.person(pid) is None:
            raise ValueError("no such person")
        if kind == "death":
            when = order.get("death_date") or dt.date.today().isoformat()
            return self.store.record_death(pid, dt.date.fromisoformat(when))
        if kind == "reissue":
            new_pid = order.get("new_pid") or self._new_pid(pid)
            return self.store.record_reissue(pid, new_pid)
        commune = order.get("commune") or f"{self._rng.randrange(10000, 32000):05d}"
        return self.store.record_move(pid, Residence(order.get("scheme", "2025-07"), commune))

    def _new_pid(self, pid: str) -> str:
        for _ in range(100):
            candidate = f"{pid[:6]}{self._rng.randrange(0, 1_000_000):06d}"
            if self.store.person(candidate) is None:
                return candidate
        raise ValueError("no free personal ID in this bucket")


def _event_dict(e: Event) -> dict[str, Any]:
    return {
        "cursor": str(e.seq),
        "kind": e.kind,
        "pid": e.pid,
        "new_pid": e.new_pid,
        "death_date": e.death_date.isoformat() if e.death_date else None,
        "residence": asdict(e.residence) if e.residence else None,
    }


def _json(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(value, ensure_ascii=False),
        status=status,
        headers=headers,
        content_type="application/json",
    )
