"""A bank behind a G2P Connect disburse API (PROTOCOLS.md §b1–b2), over mutual TLS.

* ``submit`` → ``POST /disburse`` (signed envelope); the bank ACKs, then calls back
  ``on-disburse`` at our ``sender_uri``. A timeout after submitting raises ``UpstreamTimeout``:
  the service marks the instructions ``unknown`` — this adapter never resends (``retry=False``).
* ``status`` / ``status_message`` → ``POST /disburse/sync/txn/status`` (the recovery path for lost
  callbacks and unknown outcomes); the answer is a signed envelope, verified like a callback.
* ``check_account`` → ``POST /mapper/sync/resolve`` (G2P mapper, scope ``details``): the holder's
  name as the bank keeps it (upper-case ASCII) and the account's state.
* ``cancel`` → ``POST /disburse/sync/cancel`` (items not yet executed).
* ``decode`` verifies a callback's Ed25519 signature and time window (300 s + 60 s skew) before
  anything is read from it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters import signing
from adapters.http import Resilience, check_status, read_limited, timeouts
from adapters.payments import codecs, g2p
from adapters.payments.errors import rejected
from adapters.payments.port import (
    AccountCheck,
    Batch,
    BatchStatus,
    InboundMessage,
    ItemStatus,
    SubmitResult,
    batch_message_id,
)
from gateway.errors import UpstreamProtocolError
from gateway.settings import HttpSettings

ACCOUNT_REASONS = {"closed": "AC04", "blocked": "AC06"}


class BankRestChannel:
    channel = "bank"

    def __init__(
        self,
        base_url: str,
        session: requests.Session,
        http: HttpSettings,
        *,
        sender_id: str,
        bank_id: str,
        key: Ed25519PrivateKey,
        key_id: str,
        bank_keys: signing.KeyStore,
        callback_url: str | None = None,
        payer_fa: str = "account:0000000000@000000.vn-bank",
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.base = base_url.rstrip("/")
        self.session, self.http = session, http
        self.sender_id, self.bank_id = sender_id, bank_id
        self.name = f"bank:{bank_id}"[:32]
        self._key, self._key_id, self.bank_keys = key, key_id, bank_keys
        self.callback_url, self.payer_fa = callback_url, payer_fa
        self._clock = clock
        self.resilience = Resilience(http, "bank")

    # -- wire -----------------------------------------------------------------------------

    def _envelope(self, action: str, message_id: str, message: dict, total: int) -> dict:
        head = g2p.header(
            action,
            message_id,
            self.sender_id,
            total=total,
            receiver_id=self.bank_id,
            sender_uri=self.callback_url,
        )
        now = self._clock() if self._clock else None
        return signing.envelope(
            head, message, key=self._key, sender_id=self.sender_id, key_id=self._key_id, now=now
        )

    def _post(self, path: str, body: dict, *, retry: bool) -> bytes:
        def go() -> bytes:
            response = self.session.post(
                self.base + path, json=body, timeout=timeouts(self.http), stream=True
            )
            check_status(response, "bank")
            return read_limited(response, self.http.max_response_bytes, "bank")

        return self.resilience.call(go, retry=retry)

    def _json(self, raw: bytes) -> dict[str, Any]:
        try:
            value = json.loads(raw)
        except ValueError:
            raise UpstreamProtocolError(
                "the bank answered something that is not JSON",
                "ngân hàng trả lời không phải JSON",
                code="bank.protocol",
            ) from None
        if not isinstance(value, dict):
            raise UpstreamProtocolError("unexpected bank answer", "phản hồi ngân hàng lạ")
        return value

    # -- the port -------------------------------------------------------------------------

    def submit(self, batch: Batch) -> SubmitResult:
        wire = batch_message_id(batch.reference)
        refs = hashlib.sha256(",".join(i.reference for i in batch.items).encode()).hexdigest()
        message = {
            "transaction_id": wire,
            "disbursements": [
                {
                    "reference_id": i.reference,
                    "payer_fa": self.payer_fa,
                    "payee_fa": g2p.payee_fa(i.payee_bin or "", i.payee_account or ""),
                    "amount": g2p.amount_text(i.amount),
                    "payee_name": i.payee_name,
                    "note": i.note[:99],
                    "currency_code": "VND",
                }
                for i in batch.items
            ],
        }
        # the message id is derived from the batch and its items: a resend is the same message
        body = self._envelope("disburse", f"disburse:{wire}:{refs[:16]}", message, len(batch.items))
        answer = self._json(self._post("/disburse", body, retry=False)).get("message") or {}
        return SubmitResult(str(answer.get("ack_status", "ERR")), answer.get("correlation_id"), ())

    def _status_envelope(self, references: Sequence[str]) -> tuple[bytes, dict[str, Any]]:
        digest = hashlib.sha256(",".join(references).encode()).hexdigest()[:24]
        message = {
            "transaction_id": f"status:{digest}",
            "txnstatus_request": {
                "reference_id": f"status:{digest}",
                "txn_type": "disburse",
                "attribute_type": "reference_id_list",
                "attribute_value": list(references),
            },
        }
        body = self._envelope("txn/status", f"status:{digest}", message, len(references))
        raw = self._post("/disburse/sync/txn/status", body, retry=True)
        envelope = self._json(raw)
        signing.verify(envelope, self.bank_keys, expected_sender=self.bank_id)
        return raw, envelope

    def status(self, references: Sequence[str]) -> list[ItemStatus]:
        _raw, envelope = self._status_envelope(references)
        return [g2p.item_status(i) for i in g2p.statuses_of(envelope.get("message"))]

    def status_message(self, references: Sequence[str]) -> InboundMessage:
        raw, envelope = self._status_envelope(references)
        return g2p.to_message(self.name, "txn-status", raw, envelope)

    def batch_status(self, batch_reference: str, references: Sequence[str]) -> BatchStatus:
        items = self.status(references)
        done = sum(1 for i in items if i.status in ("succ", "rjct"))
        return BatchStatus(batch_reference, len(items), done, tuple(items))

    def check_account(self, bin_code: str, account: str) -> AccountCheck:
        fa = g2p.payee_fa(bin_code, account)
        digest = hashlib.sha256(fa.encode()).hexdigest()[:24]
        message = {
            "transaction_id": f"resolve:{digest}",
            "resolve_request": [{"reference_id": digest, "fa": fa, "scope": "details"}],
        }
        body = self._envelope("resolve", f"resolve:{digest}", message, 1)
        envelope = self._json(self._post("/mapper/sync/resolve", body, retry=True))
        signing.verify(envelope, self.bank_keys, expected_sender=self.bank_id)
        answers = (envelope.get("message") or {}).get("resolve_response") or [{}]
        answer = answers[0]
        if answer.get("status_reason_code") != "succ.fa.active" and answer.get(
            "account_status"
        ) in (None, "not_found"):
            return AccountCheck(False, None, "unknown", "AC01")
        state = str(answer.get("account_status") or "active")
        return AccountCheck(True, answer.get("name"), state, ACCOUNT_REASONS.get(state))

    def cancel(self, references: Sequence[str]) -> list[ItemStatus]:
        message = {"transaction_id": "cancel", "cancel_request": list(references)}
        digest = hashlib.sha256(",".join(references).encode()).hexdigest()[:24]
        body = self._envelope("cancel", f"cancel:{digest}", message, len(references))
        envelope = self._json(self._post("/disburse/sync/cancel", body, retry=False))
        signing.verify(envelope, self.bank_keys, expected_sender=self.bank_id)
        return [g2p.item_status(i) for i in g2p.statuses_of(envelope.get("message"))]

    def fetch_confirmations(self) -> list[InboundMessage]:
        return []  # the bank pushes on-disburse callbacks; lost ones are found by txn/status

    def decode(self, kind: str, body: bytes, *, verify: bool = True) -> InboundMessage:
        if kind in codecs.ISO_KINDS or kind == "iso20022":
            return codecs.decode_iso(f"iso20022:{self.bank_id}"[:32], body, verify=verify)
        if kind not in ("on-disburse", "txn-status"):
            raise rejected(
                "err.action.not_supported", f"unsupported kind {kind}", f"loại {kind} không hỗ trợ"
            )
        envelope = g2p.load_envelope(body)
        if verify:
            now = self._clock() if self._clock else None
            signing.verify(envelope, self.bank_keys, expected_sender=self.bank_id, now=now)
        return g2p.to_message(self.name, kind, body, envelope)
