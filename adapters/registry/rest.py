"""The registry over REST, SPDCI / G2P Connect style (PROTOCOLS.md §b1, §b4).

Every request is a ``{signature, header, message}`` envelope signed with the gateway's Ed25519
key (``adapters.signing``); every answer's signature is verified against the registry's
published key before anything in it is used. Bearer tokens come from OAuth2 client
credentials and are renewed before expiry, and once more when the registry answers 401.

Endpoints: ``/registry/sync/search`` (lookup, batch verification, legacy CMND resolution —
or ``/registry/search`` + ``/registry/sync/txn/status`` in async mode), ``/registry/sync/enrolled``
(IBR), ``/registry/sync/enrollment/updates`` (ticks), ``/registry/sync/changes`` (change feed),
``/registry/subscribe`` (death notifications pushed to the gateway's notify endpoint).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Sequence
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters import signing
from adapters.http import Resilience, check_status, read_limited, timeouts, translate
from adapters.registry import errors
from adapters.registry.oauth import TokenSource
from adapters.registry.port import (
    ChangeEvent,
    ChangePage,
    Enrolment,
    RegistryPerson,
    Residence,
    TickRecord,
    VerifyRequest,
    VerifyResult,
    compare_fields,
)
from gateway.domain.dates import BirthDate
from gateway.errors import GatewayError
from gateway.settings import HttpSettings

Json = dict[str, Any]
REG_TYPE = "ns:vn:RegistryType:Population"
GENDER = {"male": "M", "female": "F"}
MAX_BATCH = 500


class RestRegistry:
    """``RegistryPort`` over SPDCI-style REST."""

    max_batch = MAX_BATCH

    def __init__(
        self,
        base_url: str,
        *,
        http: HttpSettings,
        session: requests.Session,
        tokens: TokenSource,
        signing_key: Ed25519PrivateKey,
        key_id: str,
        sender_id: str,
        registry_keys: signing.KeyStore,
        registry_id: str = "registry-sim",
        resilience: Resilience | None = None,
        async_search: bool = False,
        name: str = "rest",
    ) -> None:
        self.base = base_url.rstrip("/")
        self.http, self.session, self.tokens = http, session, tokens
        self.key, self.key_id, self.sender_id = signing_key, key_id, sender_id
        self.registry_keys, self.registry_id = registry_keys, registry_id
        self.resilience = resilience or Resilience(http, errors.SYSTEM)
        self.async_search = async_search
        self.name = name

    # -- the wire -----------------------------------------------------------------------------
    def _call(self, path: str, action: str, message: Json, count: int = 1) -> Json:
        header = {
            "version": "1.0.0",
            "message_id": str(uuid.uuid4()),
            "message_ts": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "action": action,
            "sender_id": self.sender_id,
            "receiver_id": self.registry_id,
            "total_count": count,
            "is_msg_encrypted": False,
        }
        body = json.dumps(
            signing.envelope(
                header,
                message,
                key=self.key,
                sender_id=self.sender_id,
                key_id=self.key_id,
                namespace="dci",
            ),
            ensure_ascii=False,
        ).encode()
        return self.resilience.call(lambda: self._post(path, body))

    def _post(self, path: str, body: bytes) -> Json:
        token = self.tokens.token()
        response = self._send(path, body, token)
        if response.status_code == 401 and _token_refused(response):
            response.close()
            self.tokens.invalidate(token)
            response = self._send(path, body, self.tokens.token())
            if response.status_code == 401 and _token_refused(response):
                response.close()
                raise errors.token_expired()
        with response:
            check_status(response, errors.SYSTEM)
            try:
                raw = read_limited(response, self.http.max_response_bytes, errors.SYSTEM)
            except requests.RequestException as exc:
                raise translate(exc, errors.SYSTEM) from exc
        try:
            answer = json.loads(raw)
        except (ValueError, RecursionError):
            raise errors.protocol(errors.MALFORMED_RESPONSE, "the answer is not JSON") from None
        if not isinstance(answer, dict) or not isinstance(answer.get("header"), dict):
            raise errors.protocol(
                errors.MALFORMED_RESPONSE, "not a {signature, header, message} envelope"
            )
        try:
            signing.verify(answer, self.registry_keys, expected_sender=self.registry_id)
        except signing.SignatureError as exc:
            raise errors.protocol(errors.BAD_SIGNATURE, exc.reason) from None
        if answer["header"].get("status") in ("rjct", "err"):
            raise errors.fault(str(answer["header"].get("status_reason_code") or "rjct"))
        message = answer.get("message")
        return message if isinstance(message, dict) else {}

    def _send(self, path: str, body: bytes, token: str) -> requests.Response:
        try:
            return self.session.post(
                self.base + path,
                data=body,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                timeout=timeouts(self.http),
                stream=True,
            )
        except requests.RequestException as exc:
            raise translate(exc, errors.SYSTEM) from exc

    # -- search ----------------------------------------------------------------------------------
    def _search(self, queries: Sequence[tuple[str, str, str]]) -> dict[str, Json]:
        """(reference, id type, value) → search_response item by reference."""
        message = {
            "transaction_id": str(uuid.uuid4()),
            "search_request": [
                {
                    "reference_id": ref,
                    "timestamp": dt.datetime.now(dt.UTC).isoformat(),
                    "search_criteria": {
                        "version": "1.0.0",
                        "reg_type": REG_TYPE,
                        "query_type": "idtype-value",
                        "query": {"type": kind, "value": value},
                    },
                }
                for ref, kind, value in queries
            ],
        }
        if self.async_search:
            answer = self._search_async(message, len(queries))
        else:
            answer = self._call("/registry/sync/search", "search", message, len(queries))
        items = answer.get("search_response")
        if not isinstance(items, list):
            raise errors.protocol(errors.MALFORMED_RESPONSE, "no search_response")
        return {str(i.get("reference_id")): i for i in items if isinstance(i, dict)}

    def _search_async(self, message: Json, count: int) -> Json:
        ack = self._call("/registry/search", "search", message, count)
        if ack.get("ack_status") != "ACK":
            raise errors.fault(str(ack.get("ack_status")))
        status = self._call(
            "/registry/sync/txn/status",
            "txn-status",
            {
                "txnstatus_request": {
                    "txn_type": "search",
                    "attribute_type": "correlation_id",
                    "attribute_value": ack.get("correlation_id"),
                }
            },
        )
        found = (status.get("txnstatus_response") or {}).get("txn_status")
        return found if isinstance(found, dict) else {}

    def lookup(self, pid: str) -> RegistryPerson | None:
        item = self._search([("1", "PID", pid)]).get("1")
        outcome = _outcome(item)
        if outcome == "invalid":
            raise errors.malformed_id()
        return _person(item) if outcome == "found" else None

    def verify(self, requests_: Sequence[VerifyRequest]) -> list[VerifyResult]:
        out: list[VerifyResult] = []
        for start in range(0, len(requests_), MAX_BATCH):
            chunk = requests_[start : start + MAX_BATCH]
            answers = self._search([(r.ref, "PID", r.pid) for r in chunk])
            out += [self._result(r, answers.get(r.ref)) for r in chunk]
        return out

    def _result(self, req: VerifyRequest, item: Json | None) -> VerifyResult:
        outcome = _outcome(item)
        if outcome == "invalid":
            return VerifyResult(req.ref, False, error_code=errors.MALFORMED_ID)
        if outcome == "missing":
            return VerifyResult(req.ref, False, error_code=errors.MALFORMED_RESPONSE)
        if outcome != "found":
            return VerifyResult(req.ref, False)
        try:
            return compare_fields(req, _person(item))
        except GatewayError as exc:
            return VerifyResult(req.ref, False, error_code=exc.code)

    def resolve_legacy(self, legacy_id: str) -> str | None:
        item = self._search([("1", "CMND9", legacy_id)]).get("1")
        return _person(item).pid if _outcome(item) == "found" else None

    # -- IBR: ticks and enrolments ------------------------------------------------------------
    def _update(self, tick: TickRecord, action: str, reason: str = "") -> None:
        beneficiary = {
            "person_identifier": tick.pid,
            "programme_identifier": tick.programme,
            "exclusion_group": tick.exclusion_group,
            "period": tick.period,
            "locality": tick.locality,
            "payment_ref": tick.payment_ref,
        }
        message = {
            "enrollment_updates": [
                {
                    "reference_id": tick.payment_ref,
                    "action": action,
                    "reason": reason,
                    "beneficiary": beneficiary,
                }
            ]
        }
        self._call("/registry/sync/enrollment/updates", "enrollment-updates", message)

    def publish_tick(self, tick: TickRecord) -> None:
        self._update(tick, "ticked")

    def withdraw_tick(self, tick: TickRecord, reason: str) -> None:
        self._update(tick, "withdrawn", reason)

    def enrolled(self, pid: str) -> list[Enrolment]:
        message = {
            "enrolled_criteria": {
                "query_type": "expression",
                "response_entity": "Beneficiary",
                "query": {
                    "attribute_name": "person_identifier",
                    "operator": "eq",
                    "attribute_value": pid,
                },
            }
        }
        answer = self._call("/registry/sync/enrolled", "enrolled", message)
        out = []
        for item in answer.get("search_response") or []:
            for r in ((item or {}).get("data") or {}).get("reg_records") or []:
                programme = ((r.get("programme_identifier") or {}).get("programme")) or {}
                out.append(
                    Enrolment(
                        programme=str(programme.get("programme_identifier", "")),
                        locality=str(r.get("locality", "")),
                        period=r.get("period"),
                        status=str(r.get("enrolment_status", "")),
                        exclusion_group=r.get("exclusion_group"),
                    )
                )
        return out

    # -- change feed and subscriptions -----------------------------------------------------------
    def changes(self, cursor: str | None, limit: int = 500) -> ChangePage:
        answer = self._call(
            "/registry/sync/changes",
            "changes",
            {"events_request": {"cursor": cursor, "limit": limit}},
        )
        body = answer.get("events_response") or {}
        events = tuple(_event(e) for e in body.get("events") or [])
        return ChangePage(
            events, body.get("next_cursor") or (events[-1].cursor if events else cursor)
        )

    def subscribe_deaths(self, notify_uri: str) -> str:
        """Ask the registry to push death notifications (SPDCI subscribe) to ``notify_uri``."""
        message = {
            "notify_uri": notify_uri,
            "subscribe_request": [
                {
                    "reference_id": "deaths",
                    "subscribe_criteria": {
                        "reg_type": "ns:vn:RegistryType:CRVS",
                        "reg_event_type": "death",
                        "notify_record_type": "Person",
                    },
                }
            ],
        }
        answer = self._call("/registry/subscribe", "subscribe", message)
        items = answer.get("subscribe_response") or [{}]
        return str(items[0].get("subscription_code", ""))

    def unsubscribe(self, code: str) -> None:
        self._call("/registry/unsubscribe", "unsubscribe", {"subscription_codes": [code]})


def _token_refused(response: requests.Response) -> bool:
    return "invalid_token" in response.headers.get("WWW-Authenticate", "")


def _outcome(item: Json | None) -> str:
    if item is None:
        return "missing"
    if item.get("status") == "rjct":
        return (
            "invalid"
            if str(item.get("status_reason_code", "")).startswith("rjct.query")
            else "missing"
        )
    records = ((item.get("data") or {}).get("reg_records")) or []
    return "found" if records else "not_found"


def _person(item: Json | None) -> RegistryPerson:
    try:
        r = (item or {})["data"]["reg_records"][0]
        ids = {
            i["identifier_type"]: i["identifier_value"]
            for i in r["identifier"]
            if i["identifier_type"] == "PID"
        }
        legacy = tuple(
            i["identifier_value"] for i in r["identifier"] if i["identifier_type"] == "CMND9"
        )
        address = r.get("address") or None
        return RegistryPerson(
            pid=ids["PID"],
            full_name=r["name"]["full_name"],
            birth=_birth(r.get("birth_date")),
            gender=GENDER.get(r.get("sex") or ""),
            vital_status=r.get("vital_status") or "unknown",
            death_date=dt.date.fromisoformat(r["death_date"]) if r.get("death_date") else None,
            residence=Residence(address["scheme"], address["commune_code"]) if address else None,
            legacy_ids=legacy,
        )
    except (KeyError, IndexError, TypeError, ValueError):
        raise errors.protocol(errors.MALFORMED_RESPONSE, "a person record is incomplete") from None


def _birth(text: str | None) -> BirthDate | None:
    if not text:
        return None
    if re.fullmatch(r"\d{4}", text):
        return BirthDate(int(text))
    return BirthDate.of(dt.date.fromisoformat(text[:10]))


def _event(e: Json) -> ChangeEvent:
    address = e.get("address") or None
    return ChangeEvent(
        cursor=str(e.get("cursor", "")),
        kind=str(e.get("event_type", "")),
        pid=str(e.get("person_identifier", "")),
        new_pid=e.get("new_person_identifier"),
        death_date=dt.date.fromisoformat(e["death_date"]) if e.get("death_date") else None,
        residence=Residence(address["scheme"], address["commune_code"]) if address else None,
    )
