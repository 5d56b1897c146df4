"""Doorstep QR tokens, offline: sign, verify with the published keys, rotate, revoke, expire."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.signing import KeyStore
from gateway.services import qr
from gateway.services.workspace import mask_name

NOW = dt.datetime(2026, 8, 1, 9, 0, tzinfo=dt.UTC)


def _claims(expires: dt.datetime = NOW + dt.timedelta(days=30)) -> qr.Claims:
    return qr.Claims(
        jti="abc123",
        enrollment_id=42,
        programme="ND20-TCXH",
        period="2026-08",
        amount=750_000,
        name=mask_name("Nguyễn Thị Hương"),
        unit="26743",
        issued=int(NOW.timestamp()),
        expires=int(expires.timestamp()),
    )


def _ring(kid: str, key: Ed25519PrivateKey, store: KeyStore) -> qr.Keyring:
    store.add(kid, key.public_key())
    return qr.Keyring(kid, key, store)


def test_round_trip_carries_what_the_scanner_shows() -> None:
    ring = _ring("ansinh-qr-1", Ed25519PrivateKey.generate(), KeyStore())
    token = qr.sign(_claims(), ring)
    assert token.startswith("ANSQR1.ansinh-qr-1.") and token.isascii() and len(token) < 400
    claims = qr.decode(token, ring.public, NOW)
    assert claims == _claims() and claims.name == "Nguyễn T. H."
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[2] + "=="))
    assert "Hương" not in json.dumps(payload, ensure_ascii=False)  # only the masked name


def test_rotation_old_tokens_verify_until_the_key_is_revoked() -> None:
    store = KeyStore()
    old = _ring("ansinh-qr-1", Ed25519PrivateKey.generate(), store)
    new = _ring("ansinh-qr-2", Ed25519PrivateKey.generate(), store)
    old_token, new_token = qr.sign(_claims(), old), qr.sign(_claims(), new)
    assert qr.decode(old_token, store, NOW) == qr.decode(new_token, store, NOW)
    store.revoke("ansinh-qr-1")
    with pytest.raises(qr.QrInvalid) as revoked:
        qr.decode(old_token, store, NOW)
    assert revoked.value.code == "qr.revoked_key"
    assert qr.decode(new_token, store, NOW).jti == "abc123"


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda t: t.replace("ANSQR1", "ANSQR2"), "malformed"),
        (lambda t: t.rsplit(".", 1)[0], "malformed"),
        (lambda t: t.replace(".ansinh-qr-1.", ".ansinh-qr-7."), "unknown_key"),
        (lambda t: ".".join([*t.split(".")[:3], "A" * 86]), "signature"),
    ],
)
def test_invalid_tokens_name_their_reason(mangle, reason: str) -> None:  # type: ignore[no-untyped-def]
    ring = _ring("ansinh-qr-1", Ed25519PrivateKey.generate(), KeyStore())
    with pytest.raises(qr.QrInvalid) as exc:
        qr.decode(mangle(qr.sign(_claims(), ring)), ring.public, NOW)
    assert exc.value.reason == reason and exc.value.message_vi.startswith("Mã QR không hợp lệ")


def test_changed_claims_break_the_signature_and_expiry_is_enforced() -> None:
    ring = _ring("ansinh-qr-1", Ed25519PrivateKey.generate(), KeyStore())
    head, kid, payload, sig = qr.sign(_claims(), ring).split(".")
    raw = json.loads(base64.urlsafe_b64decode(payload + "=="))
    raw["a"] = 7_500_000  # someone edits the amount
    forged = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")
    with pytest.raises(qr.QrInvalid) as exc:
        qr.decode(".".join((head, kid, forged, sig)), ring.public, NOW)
    assert exc.value.reason == "signature"
    expired = qr.sign(_claims(expires=NOW - dt.timedelta(seconds=1)), ring)
    with pytest.raises(qr.QrInvalid) as late:
        qr.decode(expired, ring.public, NOW)
    assert late.value.reason == "expired"


def test_the_qr_image_encodes_the_token() -> None:
    image = qr.svg("ANSQR1.k.p.s")
    assert image.startswith("<svg") and "<path" in image
