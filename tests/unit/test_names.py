"""Vietnamese name comparison: exact, diacritics only, word order, mismatch."""

from __future__ import annotations

import unicodedata

import pytest

from gateway.domain.names import NameMatch, bank_form, compare, fold, is_acceptable, nfc


def test_nfd_and_spacing_are_exact() -> None:
    name = "Nguyễn Thị Hương"
    assert compare(unicodedata.normalize("NFD", name), name) == NameMatch.EXACT
    assert compare("  nguyễn   thị hương ", name) == NameMatch.EXACT
    assert nfc(unicodedata.normalize("NFD", name)) == name


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("NGUYEN THI HUONG", "Nguyễn Thị Hương", NameMatch.DIACRITICS),
        ("Đỗ Văn Đạt", "DO VAN DAT", NameMatch.DIACRITICS),
        ("Hương Nguyễn Thị", "Nguyễn Thị Hương", NameMatch.TOKEN_ORDER),
        ("Nguyễn Thị Hưởng", "Nguyễn Thị Hương", NameMatch.DIACRITICS),
        ("Nguyễn Thị Lan", "Nguyễn Thị Hương", NameMatch.MISMATCH),
    ],
)
def test_kinds_of_agreement(a: str, b: str, expected: NameMatch) -> None:
    assert compare(a, b) == expected


def test_only_exact_and_diacritics_count_as_the_same_name() -> None:
    assert is_acceptable(NameMatch.EXACT) and is_acceptable(NameMatch.DIACRITICS)
    assert not is_acceptable(NameMatch.TOKEN_ORDER) and not is_acceptable(NameMatch.MISMATCH)


def test_fold_and_bank_form() -> None:
    assert fold("Đặng Thị Ánh") == "dang thi anh"
    assert bank_form("Đặng Thị Ánh") == "DANG THI ANH"
