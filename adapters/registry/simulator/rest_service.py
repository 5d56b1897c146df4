"""The simulator's REST side, SPDCI / G2P Connect style: signed ``{signature, header, message}``
envelopes, OAuth2 client-credentials tokens, registry search (+ ``/sync/`` twin and txn status),
IBR ``enrolled`` and enrollment updates (ticks), a change feed, and death subscriptions whose
notifications are pushed, signed, to the subscriber's ``sender_uri``."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters import signing
from adapters.registry.port import RegistryPerson, TickRecord
from adapters.registry.simulator.faults import Switches
from adapters.registry.simulator.store import Event, Store
from gateway.errors import GatewayError

PID = re.compile(r"^\d{12}$")
REG_TYPE = "ns:vn:RegistryType:Population"
CRVS_TYPE = "ns:vn:RegistryType:CRVS"
SEX = {"M": "male", "F": "female"}
Json = dict[str, Any]


class RestError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def person_json(p: RegistryPerson) -> Json:
    ids = [{"identifier_type": "PID", "identifier_value": p.pid}]
    ids += [{"identifier_type": "CMND9", "identifier_value": legacy} for legacy in p.legacy_ids]
    return {
        "identifier": ids,
        "name": {"full_name": p.full_name},
        "birth_date": p.birth.iso() if p.birth else None,
        "sex": SEX.get(p.gender or ""),
        "vital_status": p.vital_status,
        "death_date": p.death_date.isoformat() if p.death_date else None,
        "address": {"scheme": p.residence.scheme, "commune_code": p.residence.commune_code}
        if p.residence
        else None,
    }


class Tokens:
    """Issued bearer tokens and their expiry (bounded; the oldest are forgotten first)."""

    def __init__(self, clients: dict[str, str]) -> None:
        self.clients = clients
        self._issued: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self, client_id: str, secret: str, ttl: int) -> Json:
        expected = self.clients.get(client_id)
        if expected is None or not secrets.compare_digest(expected, secret):
            raise RestError(401, "invalid_client", "unknown client or wrong secret")
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._issued[token] = time.monotonic() + ttl
            while len(self._issued) > 10_000:
                self._issued.popitem(last=False)
        return {"access_token": token, "token_type": "Bearer", "expires_in": ttl}

    def check(self, header: str, switches: Switches) -> None:
        if not header.startswith("Bearer "):
            raise RestError(401, "invalid_request", "a bearer token is required")
        with self._lock:
            expiry = self._issued.get(header[7:].strip())
        if expiry is None:
            raise RestError(401, "invalid_token", "unknown token")
        if switches.expired_tokens or time.monotonic() > expiry:
            raise RestError(401, "invalid_token", "the access token expired")


class RestService:
    def __init__(
        self,
        store: Store,
        *,
        certs_dir: Path | None,
        sender_id: str = "registry-sim",
        key_id: str = "registry-sim-1",
        clients: dict[str, str] | None = None,
    ) -> None:
        self.store = store
        self.sender_id, self.key_id = sender_id, key_id
        self.tokens = Tokens(clients or {"ansinh-gateway": "dev-secret"})
        self.key = (
            signing.load_signing_key(certs_dir, key_id)
            if certs_dir and (certs_dir / "signing" / f"{key_id}.key").exists()
            else Ed25519PrivateKey.generate()
        )
        keys_json = certs_dir / "signing" / "keys.json" if certs_dir else None
        self.keys = (
            signing.KeyStore.from_keys_json(keys_json)
            if keys_json and keys_json.exists()
            else signing.KeyStore()
        )
        self._async: OrderedDict[str, Json] = OrderedDict()
        self.routes: dict[str, Callable[[Json], Json]] = {
            "/registry/sync/search": self.search,
            "/registry/search": self.search_async,
            "/registry/sync/txn/status": self.txn_status,
            "/registry/sync/enrolled": self.enrolled,
            "/registry/sync/enrollment/updates": self.enrollment_updates,
            "/registry/sync/changes": self.changes,
            "/registry/subscribe": self.subscribe,
            "/registry/unsubscribe": self.unsubscribe,
        }

    # -- envelope ---------------------------------------------------------------------------
    def handle(self, path: str, raw: bytes, auth: str, switches: Switches) -> tuple[int, Json]:
        self.tokens.check(auth, switches)
        try:
            body = json.loads(raw)
        except ValueError:
            raise RestError(400, "err.request.bad", "the body is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("header"), dict):
            raise RestError(400, "err.request.bad", "expected {signature, header, message}")
        if switches.require_signature:
            try:
                signing.verify(body, self.keys)
            except GatewayError as exc:
                raise RestError(401, exc.code, exc.message) from None
        handler = self.routes.get(path)
        if handler is None:
            raise RestError(404, "err.request.not_found", f"no endpoint {path}")
        message = handler(body.get("message") or {})
        return 200, self.envelope(body["header"], message, switches)

    def envelope(
        self, request_header: Json, message: Json, switches: Switches, *, status: str = "succ"
    ) -> Json:
        header = {
            "version": "1.0.0",
            "message_id": str(uuid.uuid4()),
            "message_ts": now_iso(),
            "action": f"on-{request_header.get('action', 'search')}",
            "status": status,
            "status_reason_code": "" if status == "succ" else message.get("reason", ""),
            "total_count": request_header.get("total_count", 1),
            "completed_count": request_header.get("total_count", 1),
            "sender_id": self.sender_id,
            "receiver_id": request_header.get("sender_id", ""),
            "is_msg_encrypted": False,
        }
        key = Ed25519PrivateKey.generate() if switches.bad_signature else self.key
        return signing.envelope(
            header, message, key=key, sender_id=self.sender_id, key_id=self.key_id, namespace="dci"
        )

    def fault(self, request_raw: bytes, switches: Switches) -> Json:
        try:
            header = json.loads(request_raw).get("header") or {}
        except (ValueError, AttributeError):
            header = {}
        return self.envelope(
            header, {"reason": "rjct.registry.fault", "transaction_id": ""}, switches, status="rjct"
        )

    # -- search -------------------------------------------------------------------------------
    def _search_items(self, message: Json) -> list[Json]:
        items = message.get("search_request")
        if not isinstance(items, list):
            raise RestError(400, "err.request.bad", "search_request must be a list")
        if len(items) > 1000:
            raise RestError(400, "rjct.total_count.limit_exceeded", "at most 1000 items")
        queries = []
        for item in items:
            query = ((item or {}).get("search_criteria") or {}).get("query") or {}
            queries.append(
                (item.get("reference_id", ""), query.get("type"), str(query.get("value", "")))
            )
        pids = [v for _, t, v in queries if t == "PID" and PID.match(v)]
        people = self.store.people(pids)
        return [self._answer(ref, kind, value, people) for ref, kind, value in queries]

    def _answer(
        self, ref: str, kind: str | None, value: str, people: dict[str, RegistryPerson]
    ) -> Json:
        out: Json = {
            "reference_id": ref,
            "timestamp": now_iso(),
            "status": "succ",
            "status_reason_code": "",
        }
        if kind == "CMND9":
            pid = self.store.resolve_legacy(value)
            person = self.store.person(pid) if pid else None
        elif kind == "PID" and PID.match(value):
            person = people.get(value)
        else:
            out.update(status="rjct", status_reason_code="rjct.query.invalid")
            return out
        records = [person_json(person)] if person else []
        out["data"] = {
            "version": "1.0.0",
            "reg_type": REG_TYPE,
            "reg_record_type": "Person",
            "reg_records": records,
        }
        return out

    def search(self, message: Json) -> Json:
        return {
            "transaction_id": message.get("transaction_id", ""),
            "correlation_id": str(uuid.uuid4()),
            "search_response": self._search_items(message),
        }

    def search_async(self, message: Json) -> Json:
        result = self.search(message)
        correlation = result["correlation_id"]
        self._async[correlation] = result
        while len(self._async) > 1000:
            self._async.popitem(last=False)
        return {"ack_status": "ACK", "timestamp": now_iso(), "correlation_id": correlation}

    def txn_status(self, message: Json) -> Json:
        request = message.get("txnstatus_request") or {}
        found = self._async.get(str(request.get("attribute_value", "")))
        if found is None:
            raise RestError(404, "rjct.reference_id.invalid", "no such transaction")
        return {"txnstatus_response": {"txn_type": "search", "txn_status": found}}

    # -- IBR: enrolled, enrollment updates (ticks) ---------------------------------------------
    def enrolled(self, message: Json) -> Json:
        query = ((message.get("enrolled_criteria") or {}).get("query")) or {}
        pid = str(query.get("attribute_value", ""))
        records = [
            {
                "programme_identifier": {"programme": {"programme_identifier": e.programme}},
                "locality": e.locality,
                "period": e.period,
                "enrolment_status": e.status,
                "exclusion_group": e.exclusion_group,
            }
            for e in (self.store.enrolled(pid) if PID.match(pid) else [])
        ]
        return {
            "search_response": [
                {"reference_id": "", "status": "succ", "data": {"reg_records": records}}
            ]
        }

    def enrollment_updates(self, message: Json) -> Json:
        answers = []
        for update in message.get("enrollment_updates") or []:
            b = update.get("beneficiary") or {}
            tick = TickRecord(
                str(b.get("person_identifier", "")),
                str(b.get("exclusion_group", "")),
                str(b.get("period", "")),
                str(b.get("locality", "")),
                str(b.get("programme_identifier", "")),
                str(b.get("payment_ref", "")),
            )
            if update.get("action") == "withdrawn":
                done = self.store.withdraw_tick(tick)
            else:
                done = self.store.publish_tick(tick)
            answers.append(
                {
                    "reference_id": update.get("reference_id", ""),
                    "status": "succ",
                    "status_reason_code": "" if done else "succ.no_change",
                }
            )
        return {"enrollment_updates_response": answers}

    # -- change feed and subscriptions -----------------------------------------------------------
    def changes(self, message: Json) -> Json:
        request = message.get("events_request") or {}
        cursor = str(request.get("cursor") or "0")
        limit = request.get("limit", 500)
        if not cursor.isdigit() or not isinstance(limit, int):
            raise RestError(400, "err.request.bad", "cursor must be digits and limit a number")
        events = self.store.events(int(cursor), min(limit, 1000))
        return {
            "events_response": {
                "events": [event_json(e) for e in events],
                "next_cursor": str(events[-1].seq) if events else (request.get("cursor") or None),
            }
        }

    def subscribe(self, message: Json) -> Json:
        answers = []
        for item in message.get("subscribe_request") or []:
            criteria = item.get("subscribe_criteria") or {}
            callback = str(item.get("notify_uri") or message.get("notify_uri") or "")
            if not callback.startswith(("http://", "https://")):
                raise RestError(400, "err.sender_uri.invalid", "notify_uri must be an http(s) URL")
            code = self.store.subscribe(
                callback, str(criteria.get("reg_event_type", "death")), "gateway"
            )
            answers.append(
                {
                    "reference_id": item.get("reference_id", ""),
                    "status": "succ",
                    "subscription_code": str(code),
                }
            )
        return {"subscribe_response": answers}

    def unsubscribe(self, message: Json) -> Json:
        codes = [str(c) for c in message.get("subscription_codes") or []]
        done = [c for c in codes if c.isdigit() and self.store.unsubscribe(int(c))]
        return {"unsubscribe_response": {"status": "succ", "subscription_codes": done}}

    def notify(self, event: Event, switches: Switches) -> None:
        """Push a death to every subscriber (background, bounded retries)."""
        if event.kind != "death":
            return
        for _, callback in self.store.subscribers("death"):
            body = self.notification(event, switches)
            threading.Thread(target=_deliver, args=(callback, body), daemon=True).start()

    def notification(self, event: Event, switches: Switches) -> Json:
        header = {
            "version": "1.0.0",
            "message_id": str(uuid.uuid4()),
            "message_ts": now_iso(),
            "action": "notify",
            "sender_id": self.sender_id,
            "receiver_id": "ansinh-gateway",
            "total_count": 1,
            "is_msg_encrypted": False,
        }
        message = {
            "transaction_id": str(uuid.uuid4()),
            "notify_event": [
                {
                    "reference_id": f"death-{event.seq}",
                    "timestamp": now_iso(),
                    "data": {
                        "reg_type": CRVS_TYPE,
                        "reg_record_type": "death",
                        "reg_records": [
                            {
                                "identifier": [
                                    {"identifier_type": "PID", "identifier_value": event.pid}
                                ],
                                "death_date": event.death_date.isoformat()
                                if event.death_date
                                else None,
                                "death_registration_number": f"DRN-{event.seq:08d}",
                            }
                        ],
                    },
                }
            ],
        }
        key = Ed25519PrivateKey.generate() if switches.bad_signature else self.key
        return signing.envelope(
            header, message, key=key, sender_id=self.sender_id, key_id=self.key_id, namespace="dci"
        )


def event_json(e: Event) -> Json:
    return {
        "cursor": str(e.seq),
        "event_type": e.kind,
        "person_identifier": e.pid,
        "new_person_identifier": e.new_pid,
        "death_date": e.death_date.isoformat() if e.death_date else None,
        "address": {"scheme": e.residence.scheme, "commune_code": e.residence.commune_code}
        if e.residence
        else None,
    }


def _deliver(url: str, body: Json) -> None:
    data = json.dumps(body, ensure_ascii=False).encode()
    for attempt in range(4):
        try:
            response = requests.post(
                url, data=data, headers={"Content-Type": "application/json"}, timeout=5
            )
            if response.status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2 * 2**attempt)
