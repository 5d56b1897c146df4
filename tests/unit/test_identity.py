"""Identity matching against a registry record: names, year-only dates, gender, ID digits."""

from __future__ import annotations

import pytest

from gateway.domain.dates import BirthDate
from gateway.domain.identity import (
    MATCH,
    MISMATCH,
    MISSING,
    Claim,
    Record,
    id_digits,
    match_identity,
)
from gateway.domain.names import NameMatch

RECORD = Record("Nguyễn Thị Hương", BirthDate(1950, 3, 4), "F")
PID = "079150000101"  # digit 4 = 1: female, born 19xx; digits 5-6: 50


def test_a_clean_match() -> None:
    found = match_identity(Claim(PID, "Nguyễn Thị Hương", BirthDate(1950, 3, 4), "F"), RECORD)
    assert found.fields == {"name": MATCH, "birth_date": MATCH, "gender": MATCH, "id_digits": MATCH}
    assert found.name_match == NameMatch.EXACT and found.mismatched == []


@pytest.mark.parametrize(
    ("name", "kind", "outcome"),
    [
        ("NGUYEN THI HUONG", NameMatch.DIACRITICS, MATCH),
        ("Hương Nguyễn Thị", NameMatch.TOKEN_ORDER, MISMATCH),
        ("Nguyễn Thị Lan", NameMatch.MISMATCH, MISMATCH),
    ],
)
def test_name_kinds(name: str, kind: NameMatch, outcome: str) -> None:
    found = match_identity(Claim(PID, name, None, None), RECORD)
    assert (found.name_match, found.fields["name"]) == (kind, outcome)


def test_year_only_dates_match_any_day_of_that_year_on_either_side() -> None:
    assert (
        match_identity(Claim(PID, None, BirthDate(1950), None), RECORD).fields["birth_date"]
        == MATCH
    )
    year_only = Record("Nguyễn Thị Hương", BirthDate(1950), "F")
    claim = Claim(PID, None, BirthDate(1950, 12, 31), None)
    assert match_identity(claim, year_only).fields["birth_date"] == MATCH
    other = Claim(PID, None, BirthDate(1951), None)
    assert match_identity(other, year_only).fields["birth_date"] == MISMATCH


def test_missing_on_either_side_is_missing_not_mismatch() -> None:
    found = match_identity(Claim(PID, None, None, None), Record("X", None, None))
    assert found.fields == {
        "name": MISSING,
        "birth_date": MISSING,
        "gender": MISSING,
        "id_digits": MISSING,
    }


@pytest.mark.parametrize(
    ("pid", "birth", "gender", "outcome"),
    [
        ("079150000101", BirthDate(1950), "F", MATCH),
        ("079150000101", BirthDate(1951), "F", MISMATCH),  # digits say 1950
        ("079150000101", None, "M", MISMATCH),  # digit 4 odd: female
        ("079312000101", BirthDate(2012, 5, 1), "F", MATCH),  # 3: female, 2000s
        ("079212000101", BirthDate(1912), "M", MISMATCH),  # 2: male, 2000s -> 2012
        ("0791500001", BirthDate(1950), "F", MISSING),  # not a 12-digit ID: nothing to check
    ],
)
def test_birth_year_and_gender_are_cross_checked_with_the_id_digits(
    pid: str, birth: BirthDate | None, gender: str | None, outcome: str
) -> None:
    assert id_digits(Claim(pid, None, birth, gender)) == outcome
