"""Birth-date parsing: the spellings provinces use, never a guess."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.dates import BirthDate, parse_birth_date, parse_excel_serial
from gateway.errors import ValidationFailed

TODAY = dt.date(2026, 11, 22)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("03/04/1950", BirthDate(1950, 4, 3)),  # day first, the Vietnamese order
        ("3/4/1950", BirthDate(1950, 4, 3)),
        ("03-04-1950", BirthDate(1950, 4, 3)),
        ("03.04.1950", BirthDate(1950, 4, 3)),
        ("1950-04-03", BirthDate(1950, 4, 3)),
        ("1950-04-03T00:00:00", BirthDate(1950, 4, 3)),
        ("1950", BirthDate(1950)),
        (dt.date(1950, 4, 3), BirthDate(1950, 4, 3)),
        (18356, BirthDate(1950, 4, 3)),  # Excel serial
    ],
)
def test_accepted_spellings(raw: object, expected: BirthDate) -> None:
    assert parse_birth_date(raw, today=TODAY) == expected


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("", "date.required"),
        (None, "date.required"),
        ("31/02/1950", "date.invalid"),
        ("1950/04/03", "date.format"),
        ("April 3 1950", "date.format"),
        ("01/01/2030", "date.future"),
        ("1850", "date.too_old"),
        (18356.5, "date.excel_serial"),
    ],
)
def test_rejections_name_the_rule(raw: object, rule: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_birth_date(raw, field="ngay_sinh", today=TODAY)
    assert exc.value.problems[0].rule == rule
    assert exc.value.problems[0].field == "ngay_sinh"


def test_year_only_matches_any_date_in_that_year() -> None:
    assert BirthDate(1950).matches(BirthDate(1950, 7, 1))
    assert not BirthDate(1950).matches(BirthDate(1951, 7, 1))
    assert not BirthDate(1950, 7, 1).matches(BirthDate(1950, 7, 2))


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY))
def test_every_format_round_trips(day: dt.date) -> None:
    expected = BirthDate.of(day)
    assert parse_birth_date(day.strftime("%d/%m/%Y"), today=TODAY) == expected
    assert parse_birth_date(day.isoformat(), today=TODAY) == expected
    serial = (day - dt.date(1899, 12, 30)).days
    assert parse_excel_serial(serial) == expected


@given(st.text(max_size=24))
def test_any_text_parses_or_fails_cleanly(raw: str) -> None:
    try:
        value = parse_birth_date(raw, today=TODAY)
    except ValidationFailed as exc:
        assert exc.problems[0].rule.startswith("date.")
    else:
        assert 1890 <= value.year <= TODAY.year
