"""Cell converters used by every mapping."""

from __future__ import annotations

import pytest

from gateway.errors import ValidationFailed
from mappings import converters


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Nam", "M"),
        ("nữ", "F"),
        ("NU", "F"),
        ("M", "M"),
        ("f", "F"),
        ("1", "M"),
        ("0", "F"),
        ("", None),
        (None, None),
    ],
)
def test_gender_words(raw: object, expected: str | None) -> None:
    assert converters.gender(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1.000.000", 1_000_000),
        ("1,000,000", 1_000_000),
        ("1000000", 1_000_000),
        ("500.000đ", 500_000),
        ("360000 VND", 360_000),
        (750000, 750_000),
        (750000.0, 750_000),
    ],
)
def test_money_is_integer_vnd(raw: object, expected: int) -> None:
    assert converters.money(raw) == expected


@pytest.mark.parametrize("raw", ["1.000,5", "12.34", "abc", 10.5, "1.00.000"])
def test_money_rejects_fractions_and_garbage(raw: object) -> None:
    with pytest.raises(ValidationFailed) as exc:
        converters.money(raw)
    assert exc.value.problems[0].rule.startswith("money.")


@pytest.mark.parametrize(
    ("raw", "expected"), [("1,5", 1500), ("2.5", 2500), ("1", 1000), ("", None)]
)
def test_coefficients_in_thousandths(raw: str, expected: int | None) -> None:
    assert converters.coefficient_milli(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0912 345 678", "0912345678"), ("+84912345678", "0912345678"), ("84912345678", "0912345678")],
)
def test_phone_numbers(raw: str, expected: str) -> None:
    assert converters.phone(raw) == expected


def test_channel_defaults_from_the_account() -> None:
    assert converters.channel("", has_account=True) == "bank"
    assert converters.channel(None, has_account=False) == "postoffice"
    assert converters.channel("Bưu điện", has_account=True) == "postoffice"
