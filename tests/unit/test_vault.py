"""Encryption at rest and the blind index."""

from __future__ import annotations

import pytest

from gateway.security.vault import PiiVault, Purpose, VaultError

ENC, IDX = b"e" * 32, b"x" * 32


def test_round_trip_and_randomised_ciphertext() -> None:
    vault = PiiVault.single(ENC, IDX)
    a, b = vault.encrypt("079301012345", Purpose.PID), vault.encrypt("079301012345", Purpose.PID)
    assert a != b and b"079301012345" not in a
    assert vault.decrypt(a, Purpose.PID) == "079301012345"


def test_ciphertext_bound_to_its_purpose() -> None:
    vault = PiiVault.single(ENC, IDX)
    blob = vault.encrypt("079301012345", Purpose.PID)
    with pytest.raises(VaultError):
        vault.decrypt(blob, Purpose.ACCOUNT)


def test_tampering_is_detected() -> None:
    vault = PiiVault.single(ENC, IDX)
    blob = bytearray(vault.encrypt("079301012345", Purpose.PID))
    blob[-1] ^= 1
    with pytest.raises(VaultError):
        vault.decrypt(bytes(blob), Purpose.PID)


def test_blind_index_is_deterministic_keyed_and_separated() -> None:
    vault = PiiVault.single(ENC, IDX)
    other = PiiVault.single(ENC, b"y" * 32)
    index = vault.index("079301012345", Purpose.PID)
    assert index == vault.index("079301012345", Purpose.PID) and len(index) == 16
    assert index != other.index("079301012345", Purpose.PID)
    assert index != vault.index("079301012345", Purpose.ACCOUNT)


def test_key_rotation_keeps_old_ciphertexts_readable() -> None:
    old = PiiVault({1: ENC}, 1, IDX)
    blob = old.encrypt("0123456789", Purpose.ACCOUNT)
    rotated = PiiVault({1: ENC, 2: b"n" * 32}, 2, IDX)
    assert rotated.decrypt(blob, Purpose.ACCOUNT) == "0123456789"
    assert rotated.encrypt("x", Purpose.ACCOUNT)[1] == 2
    with pytest.raises(VaultError):
        PiiVault({2: b"n" * 32}, 2, IDX).decrypt(blob, Purpose.ACCOUNT)
