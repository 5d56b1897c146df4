"""Encryption at rest for personal ID and account numbers, with a keyed blind index.

Each protected value is stored twice, neither in clear:

* ``*_enc``   AES-256-GCM ciphertext (``version | key id | nonce | ciphertext+tag``) with the
              value's *purpose* as associated data, so a ciphertext moved to another column fails.
* ``*_index`` HMAC-SHA256(index key, purpose ‖ value) truncated to 16 bytes: deterministic, so it
              carries lookups, uniqueness constraints and joins; it reveals nothing without the key.

The index key is separate from the encryption key; rotating the encryption key only re-encrypts,
rotating the index key means re-indexing (``docs/security.md``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.errors import GatewayError

FORMAT_VERSION = 1
INDEX_BYTES = 16


class Purpose:
    """Domain separation labels: the same number under two purposes gives unrelated indexes."""

    PID = b"pid"
    LEGACY_ID = b"cmnd9"
    ACCOUNT = b"account"


class VaultError(GatewayError):
    code = "pii.decrypt_failed"


class PiiVault:
    def __init__(
        self,
        keys: Mapping[int, bytes],
        current_key_id: int,
        index_key: bytes,
    ) -> None:
        if current_key_id not in keys:
            raise ValueError("current key id has no key")
        if any(len(k) != 32 for k in keys.values()) or len(index_key) != 32:
            raise ValueError("vault keys must be 32 bytes")
        if not 0 <= current_key_id <= 255:
            raise ValueError("key ids are one byte")
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.items()}
        self._kid = current_key_id
        self._index_key = index_key
        # HMAC-SHA256 (RFC 2104) with the keyed inner and outer states computed once: each
        # index then costs two hash copies instead of a new HMAC (bulk intake indexes millions)
        block = index_key.ljust(64, b"\x00")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    @classmethod
    def single(cls, enc_key: bytes, index_key: bytes) -> PiiVault:
        return cls({1: enc_key}, 1, index_key)

    def encrypt(self, value: str, purpose: bytes) -> bytes:
        nonce = os.urandom(12)
        sealed = self._ciphers[self._kid].encrypt(nonce, value.encode(), purpose)
        return bytes((FORMAT_VERSION, self._kid)) + nonce + sealed

    def decrypt(self, blob: bytes, purpose: bytes) -> str:
        if len(blob) < 2 + 12 + 16 or blob[0] != FORMAT_VERSION:
            raise VaultError("protected value has an unknown format")
        cipher = self._ciphers.get(blob[1])
        if cipher is None:
            raise VaultError(f"protected value uses key id {blob[1]}, which is not loaded")
        try:
            return cipher.decrypt(blob[2:14], blob[14:], purpose).decode()
        except InvalidTag:
            raise VaultError("protected value failed authentication") from None

    def index(self, value: str, purpose: bytes) -> bytes:
        """HMAC-SHA256(index key, purpose ‖ 0 ‖ value), first 16 bytes."""
        inner = self._inner.copy()
        inner.update(purpose + b"\x00" + value.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:INDEX_BYTES]

    def protect(self, value: str, purpose: bytes) -> tuple[bytes, bytes]:
        """(index, ciphertext) for one value."""
        return self.index(value, purpose), self.encrypt(value, purpose)
