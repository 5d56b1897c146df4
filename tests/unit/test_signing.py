"""Envelope signatures: every failure has its own reason."""

from __future__ import annotations

import copy

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.signing import KeyStore, SignatureError, envelope, verify

NOW = 1_790_000_000
KEY = Ed25519PrivateKey.generate()
HEADER = {
    "message_id": "m-1",
    "message_ts": "2026-07-01T00:00:00Z",
    "action": "on-disburse",
    "sender_id": "bank-sim",
    "total_count": 1,
}
MESSAGE = {"disburse_response": [{"reference_id": "AS1", "status": "succ"}]}


def _signed(**over):
    args = {"key": KEY, "sender_id": "bank-sim", "key_id": "bank-sim-1", "now": NOW}
    return envelope(copy.deepcopy(HEADER), copy.deepcopy(MESSAGE), **(args | over))


def _keys() -> KeyStore:
    return KeyStore({"bank-sim-1": KEY.public_key()})


def reason(body, **kwargs) -> str:
    with pytest.raises(SignatureError) as exc:
        verify(body, kwargs.pop("keys", _keys()), **({"now": NOW} | kwargs))
    assert exc.value.status == 401 and exc.value.message_vi
    return exc.value.reason


def test_valid_signature_verifies_with_skew() -> None:
    body = _signed()
    assert body["signature"].startswith('namespace="g2p", kidId="bank-sim|bank-sim-1|ed25519"')
    checked = verify(body, _keys(), now=NOW + 300 + 59, expected_sender="bank-sim")
    assert (checked.sender_id, checked.key_id) == ("bank-sim", "bank-sim-1")
    verify(body, _keys(), now=NOW - 59)  # a sender clock slightly ahead is tolerated


def test_each_failure_has_its_reason() -> None:
    body = _signed()
    tampered = copy.deepcopy(body)
    tampered["message"]["disburse_response"][0]["status"] = "rjct"
    assert reason(tampered) == "invalid"
    assert reason(body, now=NOW + 300 + 61) == "expired"
    assert reason(body, now=NOW - 61) == "not_yet_valid"
    assert reason({**body, "signature": ""}) == "missing"
    assert reason({**body, "signature": 'kidId="x"'}) == "malformed"
    assert reason(body, keys=KeyStore()) == "unknown_key"
    revoked = _keys()
    revoked.revoke("bank-sim-1")
    assert reason(body, keys=revoked) == "revoked_key"
    assert reason(body, expected_sender="other-bank") == "sender"
    assert reason(_signed(validity=3600)) == "not_yet_valid"
    other = Ed25519PrivateKey.generate()
    assert reason(_signed(key=other)) == "invalid"


def test_key_order_in_the_json_does_not_matter() -> None:
    body = _signed()
    reordered = {
        "message": body["message"],
        "signature": body["signature"],
        "header": dict(reversed(list(body["header"].items()))),
    }
    verify(reordered, _keys(), now=NOW)
