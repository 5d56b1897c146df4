"""Personal ID value object: structure, decoding, cross-checks, bilingual messages."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.personal_id import (
    BIRTH_REGISTRATION_PREFIXES,
    cross_check,
    mask,
    parse_legacy_id,
    parse_personal_id,
)
from gateway.errors import ValidationFailed
from gateway.generate.population import make_pid

TODAY = dt.date(2026, 11, 22)


def rule_of(exc: pytest.ExceptionInfo[ValidationFailed]) -> str:
    return exc.value.problems[0].rule


def test_decodes_century_gender_and_year() -> None:
    parsed = parse_personal_id("079301012345", today=TODAY)
    assert parsed.pid.prefix == "079"
    assert parsed.pid.gender == "F"
    assert parsed.pid.birth_year == 2001
    assert parsed.warnings == ()
    male_1950 = parse_personal_id("001050000001", today=TODAY).pid
    assert (male_1950.gender, male_1950.birth_year) == ("M", 1950)


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("", "personal_id.required"),
        ("12345678", "personal_id.format"),
        ("1234567890123", "personal_id.format"),
        ("07930101234A", "personal_id.format"),
        ("123456789", "personal_id.legacy_cmnd"),
        ("79301012345", "personal_id.leading_zero_lost"),
        ("079499012345", "personal_id.birth_year_future"),  # century digit 4: 2100s
    ],
)
def test_rejects_with_the_rule_named(raw: str, rule: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_personal_id(raw, field="cccd", today=TODAY)
    problem = exc.value.problems[0]
    assert (problem.field, problem.rule) == ("cccd", rule)
    assert problem.message and problem.message_vi and problem.message != problem.message_vi


def test_unknown_prefix_is_a_warning_not_an_error() -> None:
    parsed = parse_personal_id("003050000001", today=TODAY)
    assert parsed.pid.value == "003050000001"
    assert [w.rule for w in parsed.warnings] == ["personal_id.prefix_unknown"]


def test_cross_check_names_year_and_gender() -> None:
    pid = parse_personal_id("001050000001", today=TODAY).pid  # male, 1950
    assert cross_check(pid, birth_year=1950, gender="M") == []
    rules = {p.rule for p in cross_check(pid, birth_year=1951, gender="F")}
    assert rules == {"personal_id.birth_year_mismatch", "personal_id.gender_mismatch"}
    vi = cross_check(pid, birth_year=1950, gender="F")[0].message_vi
    assert "Nam" in vi and "Nữ" in vi


def test_legacy_id_is_a_separate_type() -> None:
    legacy = parse_legacy_id(" 012345678 ")
    assert legacy.value == "012345678"
    with pytest.raises(ValidationFailed) as exc:
        parse_legacy_id("0123456789")
    assert rule_of(exc) == "legacy_id.format"


def test_ids_never_print_in_clear() -> None:
    pid = parse_personal_id("079301012345", today=TODAY).pid
    assert str(pid) == repr(pid).removeprefix("PersonalId(").removesuffix(")") == "079*******45"
    assert mask("012345678") == "012****78"


@given(
    prefix=st.sampled_from(sorted(BIRTH_REGISTRATION_PREFIXES)),
    year=st.integers(min_value=1900, max_value=2026),
    gender=st.sampled_from(["M", "F"]),
    serial=st.integers(min_value=0, max_value=999_999),
)
def test_generated_ids_round_trip(prefix: str, year: int, gender: str, serial: int) -> None:
    parsed = parse_personal_id(make_pid(prefix, year, gender, serial), today=TODAY)
    assert (parsed.pid.birth_year, parsed.pid.gender) == (year, gender)
    assert cross_check(parsed.pid, birth_year=year, gender=gender) == []
    assert parsed.warnings == ()


@given(st.text(max_size=20))
def test_any_text_either_parses_or_fails_cleanly(raw: str) -> None:
    try:
        parsed = parse_personal_id(raw, today=TODAY)
    except ValidationFailed as exc:
        assert exc.problems and exc.problems[0].field == "personal_id"
    else:
        assert len(parsed.pid.value) == 12 and parsed.pid.value.isdigit()
