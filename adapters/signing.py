"""Ed25519 signatures of G2P Connect / SPDCI ``{signature, header, message}`` envelopes.

As PROTOCOLS.md §b1 and OpenSPP's implementation make it concrete::

    digest   = base64(SHA-256(JSON({"header": …, "message": …}, sort_keys, compact)))
    signing  = "(created): {c}\\n(expires): {e}\\ndigest: {d}"
    signature: namespace="g2p", kidId="{sender}|{kid}|ed25519", algorithm="ed25519",
               created="{c}", expires="{e}", headers="(created) (expires) digest",
               signature="{base64 Ed25519(signing)}"

Validity is 300 s from ``created``; the verifier allows 60 s of clock skew. Every failure is a
``SignatureError`` with a machine reason. Signers take key *objects* (tests make them in memory);
reading keys from ``certs/`` is a thin wrapper.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.errors import Unauthorized

VALIDITY_SECONDS = 300
SKEW_SECONDS = 60
_FIELD = re.compile(r'(\w+)="([^"]*)"')


class SignatureError(Unauthorized):
    """err.signature.* — the reason says which check failed."""

    def __init__(self, reason: str, message: str, message_vi: str) -> None:
        super().__init__(message, message_vi, code=f"err.signature.{reason}")
        self.reason = reason


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(header: Mapping[str, Any], message: Any) -> str:
    body = canonical_json({"header": header, "message": message})
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


def _signing_string(created: int, expires: int, digest_b64: str) -> bytes:
    return f"(created): {created}\n(expires): {expires}\ndigest: {digest_b64}".encode()


def sign(
    header: Mapping[str, Any],
    message: Any,
    *,
    key: Ed25519PrivateKey,
    sender_id: str,
    key_id: str,
    now: float | None = None,
    validity: int = VALIDITY_SECONDS,
    namespace: str = "g2p",
) -> str:
    created = int(now if now is not None else time.time())
    expires = created + validity
    d = digest(header, message)
    value = base64.b64encode(key.sign(_signing_string(created, expires, d))).decode()
    return (
        f'namespace="{namespace}", kidId="{sender_id}|{key_id}|ed25519", algorithm="ed25519", '
        f'created="{created}", expires="{expires}", headers="(created) (expires) digest", '
        f'signature="{value}"'
    )


def envelope(header: dict[str, Any], message: Any, **sign_args: Any) -> dict[str, Any]:
    """A signed ``{signature, header, message}`` body."""
    return {"signature": sign(header, message, **sign_args), "header": header, "message": message}


@dataclass(frozen=True)
class Verified:
    sender_id: str
    key_id: str
    created: int
    expires: int


class KeyStore:
    """Public keys by key id, with revocation; what a verifier trusts."""

    def __init__(
        self, keys: Mapping[str, Ed25519PublicKey] | None = None, revoked: Iterable[str] = ()
    ) -> None:
        self._keys = dict(keys or {})
        self._revoked = set(revoked)

    def add(self, key_id: str, key: Ed25519PublicKey) -> None:
        self._keys[key_id] = key

    def revoke(self, key_id: str) -> None:
        self._revoked.add(key_id)

    def get(self, key_id: str) -> Ed25519PublicKey:
        if key_id in self._revoked:
            raise SignatureError(
                "revoked_key", f"key {key_id} has been revoked", f"khóa {key_id} đã bị thu hồi"
            )
        try:
            return self._keys[key_id]
        except KeyError:
            raise SignatureError(
                "unknown_key", f"no public key {key_id}", f"không có khóa công khai {key_id}"
            ) from None

    @classmethod
    def from_keys_json(cls, path: Path) -> KeyStore:
        """Load ``signing/keys.json`` as written by ``ansinh certs init``."""
        raw = json.loads(path.read_text())
        return cls(
            {
                kid: Ed25519PublicKey.from_public_bytes(base64.b64decode(v["public_key"]))
                for kid, v in raw.items()
            }
        )


def parse(signature: str) -> dict[str, str]:
    fields = dict(_FIELD.findall(signature or ""))
    required = ("kidId", "algorithm", "created", "expires", "signature")
    if any(k not in fields for k in required):
        raise SignatureError(
            "malformed", "signature is missing fields", "chữ ký thiếu trường bắt buộc"
        )
    return fields


def verify(
    body: Mapping[str, Any],
    keys: KeyStore,
    *,
    now: float | None = None,
    skew: int = SKEW_SECONDS,
    expected_sender: str | None = None,
) -> Verified:
    """Check an envelope's signature and time window; raise ``SignatureError`` otherwise."""
    signature = body.get("signature")
    if not signature or not isinstance(signature, str):
        raise SignatureError("missing", "the message is not signed", "thông điệp không có chữ ký")
    fields = parse(signature)
    if fields["algorithm"].lower() != "ed25519":
        raise SignatureError(
            "algorithm", "only ed25519 signatures are accepted", "chỉ chấp nhận chữ ký ed25519"
        )
    try:
        sender, key_id, _alg = fields["kidId"].split("|")
        created, expires = int(fields["created"]), int(fields["expires"])
        raw = base64.b64decode(fields["signature"], validate=True)
    except (ValueError, binascii.Error):
        raise SignatureError(
            "malformed", "signature fields are malformed", "các trường của chữ ký không hợp lệ"
        ) from None
    if expected_sender is not None and sender != expected_sender:
        raise SignatureError(
            "sender",
            f"signed by {sender}, expected {expected_sender}",
            f"chữ ký của {sender}, không phải {expected_sender}",
        )
    clock = int(now if now is not None else time.time())
    if expires - created > VALIDITY_SECONDS + skew or created > clock + skew:
        raise SignatureError(
            "not_yet_valid",
            "signature time window is invalid",
            "thời gian hiệu lực của chữ ký không hợp lệ",
        )
    if clock > expires + skew:
        raise SignatureError("expired", "signature has expired", "chữ ký đã hết hạn")
    d = digest(body.get("header") or {}, body.get("message"))
    try:
        keys.get(key_id).verify(raw, _signing_string(created, expires, d))
    except InvalidSignature:
        raise SignatureError(
            "invalid", "signature does not match the message", "chữ ký không khớp với nội dung"
        ) from None
    return Verified(sender, key_id, created, expires)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def load_signing_key(certs_dir: Path, key_id: str) -> Ed25519PrivateKey:
    return load_private_key(certs_dir / "signing" / f"{key_id}.key")
