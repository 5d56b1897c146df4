"""Programme rules as data: effective-dated amounts, one-off packages, exclusion groups."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.domain.programmes import (
    Claim,
    ExclusionGroup,
    amount_for,
    resolve_exclusions,
    standard_level_on,
)
from gateway.errors import ValidationFailed
from gateway.refdata.programmes import catalogue, standard_levels

CAT = catalogue()
LEVELS = standard_levels()


@pytest.mark.parametrize(
    ("period", "coefficient", "expected"),
    [
        ("2021-07", 1000, 360_000),
        ("2024-06", 1000, 360_000),
        ("2024-07", 1000, 500_000),
        ("2026-07", 2500, 1_250_000),  # a severely disabled child: 2.5 × 500,000
        ("2026-07", 1500, 750_000),
        ("2026-07", None, 500_000),  # the programme's default coefficient
    ],
)
def test_decree_20_coefficient_times_standard_level(
    period: str, coefficient: int | None, expected: int
) -> None:
    assert (
        amount_for(CAT["ND20-TCXH"], period, standard_levels=LEVELS, coefficient_milli=coefficient)
        == expected
    )


def test_standard_level_history() -> None:
    assert standard_level_on(LEVELS, dt.date(2021, 6, 30)) == 270_000
    assert standard_level_on(LEVELS, dt.date(2021, 7, 1)) == 360_000
    assert standard_level_on(LEVELS, dt.date(2024, 7, 1)) == 500_000
    with pytest.raises(ValidationFailed):
        standard_level_on(LEVELS, dt.date(2013, 12, 31))


def test_social_pension_starts_2025_07() -> None:
    assert amount_for(CAT["ND176-HTXH"], "2025-07", standard_levels=LEVELS) == 500_000
    with pytest.raises(ValidationFailed) as exc:
        amount_for(CAT["ND176-HTXH"], "2025-06", standard_levels=LEVELS)
    assert exc.value.problems[0].rule == "period.outside_programme"


def test_one_off_package_is_paid_once() -> None:
    assert amount_for(CAT["HCM-2021-GOI3"], "ONCE", standard_levels=LEVELS) == 1_000_000
    with pytest.raises(ValidationFailed) as exc:
        amount_for(CAT["HCM-2021-GOI3"], "2021-09", standard_levels=LEVELS)
    assert exc.value.problems[0].rule == "period.one_off"


def test_malformed_period_names_the_rule() -> None:
    with pytest.raises(ValidationFailed) as exc:
        amount_for(CAT["ND20-TCXH"], "07/2026", standard_levels=LEVELS)
    assert exc.value.problems[0].rule == "period.format"


def test_highest_level_wins_in_the_group() -> None:
    group = ExclusionGroup("tcxh-hang-thang", "highest_wins")
    claims = [
        Claim(1, "ND20-NCT80", 500_000),
        Claim(2, "ND20-TCXH", 750_000),
        Claim(3, "ND176-HTXH", 500_000),
    ]
    decision = resolve_exclusions(claims, group)
    assert [c.key for c in decision.keep] == [2]
    assert {(lost.key, won.key) for lost, won in decision.excluded} == {(1, 2), (3, 2)}


def test_allowed_pairs_are_kept_together() -> None:
    group = ExclusionGroup("g", "highest_wins", frozenset({frozenset({"A", "B"})}))
    decision = resolve_exclusions(
        [Claim(1, "A", 100), Claim(2, "B", 200), Claim(3, "C", 50)], group
    )
    assert sorted(c.key for c in decision.keep) == [1, 2]
    assert [(lost.key, won.key) for lost, won in decision.excluded] == [(3, 2)]


def test_one_only_keeps_the_first_claim() -> None:
    group = ExclusionGroup("g", "one_only")
    decision = resolve_exclusions([Claim(1, "A", 100), Claim(2, "B", 200)], group)
    assert [c.key for c in decision.keep] == [1]
