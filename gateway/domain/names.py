"""Vietnamese personal names: normalisation and comparison.

Records arrive in NFC, NFD (macOS, some exports), legacy font encodings already converted, or as
banks print them (``NGUYEN THI HUONG``, no diacritics, Đ written D). A comparison therefore says
*how* two names agree: exactly, only up to diacritics, or only up to word order.
"""

from __future__ import annotations

import enum
import unicodedata


class NameMatch(enum.StrEnum):
    EXACT = "exact"  # same after NFC, case folding and whitespace
    DIACRITICS = "diacritics"  # same once diacritics (and Đ/đ) are folded away
    TOKEN_ORDER = "token_order"  # noqa: S105 - a match kind, not a credential
    MISMATCH = "mismatch"


def nfc(name: str) -> str:
    """NFC with single spaces; the stored form of every name."""
    return " ".join(unicodedata.normalize("NFC", name).split())


def fold(name: str) -> str:
    """Lower-case ASCII key: ``Nguyễn Thị Đào`` → ``nguyen thi dao``."""
    decomposed = unicodedata.normalize("NFD", name.replace("Đ", "D").replace("đ", "d"))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())


def bank_form(name: str) -> str:
    """The upper-case ASCII form banks answer with."""
    return fold(name).upper()


def compare(a: str, b: str) -> NameMatch:
    if a == b:  # the usual answer of a registry that holds the name as listed
        return NameMatch.EXACT
    if nfc(a).casefold() == nfc(b).casefold():
        return NameMatch.EXACT
    fa, fb = fold(a), fold(b)
    if fa == fb:
        return NameMatch.DIACRITICS
    if sorted(fa.split()) == sorted(fb.split()):
        return NameMatch.TOKEN_ORDER
    return NameMatch.MISMATCH


def is_acceptable(match: NameMatch) -> bool:
    """Exact and diacritic-only differences are the same person's name; word order is not."""
    return match in (NameMatch.EXACT, NameMatch.DIACRITICS)
