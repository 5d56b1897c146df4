"""Programme rules as plain data: amounts in force on a date, and exclusion between programmes.

Pure functions over values, testable without a database. The seed catalogue lives in
``gateway.refdata.programmes``; these rules are what the services apply to it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from gateway.errors import problem

ONCE = "ONCE"


@dataclass(frozen=True)
class AmountRule:
    effective_from: dt.date
    fixed_amount: int | None = None
    coefficient_milli: int | None = None  # default coefficient when the record carries none


@dataclass(frozen=True)
class Programme:
    code: str
    periodicity: str  # monthly | one_off
    amount_kind: str  # fixed | coefficient
    exclusion_group: str | None
    rules: tuple[AmountRule, ...]
    valid_from: dt.date
    valid_to: dt.date | None = None


@dataclass(frozen=True)
class ExclusionGroup:
    code: str
    policy: str  # highest_wins | one_only
    allowed_pairs: frozenset[frozenset[str]] = field(default_factory=frozenset)

    def allows(self, a: str, b: str) -> bool:
        return a == b or frozenset((a, b)) in self.allowed_pairs


def period_start(period: str) -> dt.date:
    """First day of ``YYYY-MM``; rejects anything else (``ONCE`` has no date)."""
    try:
        year, month = (int(p) for p in period.split("-"))
        return dt.date(year, month, 1)
    except ValueError:
        raise problem(
            "period",
            "period.format",
            f"{period!r} is not a period; use YYYY-MM",
            f"{period!r} không phải là kỳ; hãy dùng YYYY-MM",
        ) from None


def check_period(programme: Programme, period: str) -> None:
    if programme.periodicity == "one_off":
        if period != ONCE:
            raise problem(
                "period",
                "period.one_off",
                f"{programme.code} is paid once; its period is ONCE",
                f"{programme.code} chi trả một lần; kỳ phải là ONCE",
            )
        return
    start = period_start(period)
    if start < programme.valid_from.replace(day=1) or (
        programme.valid_to is not None and start > programme.valid_to
    ):
        raise problem(
            "period",
            "period.outside_programme",
            f"{programme.code} does not pay for {period}",
            f"{programme.code} không chi trả cho kỳ {period}",
        )


def rule_in_force(rules: Sequence[AmountRule], on: dt.date) -> AmountRule | None:
    current = None
    for rule in sorted(rules, key=lambda r: r.effective_from):
        if rule.effective_from <= on:
            current = rule
    return current


def standard_level_on(levels: Iterable[tuple[dt.date, int]], on: dt.date) -> int:
    """The standard social-assistance level in force on a date."""
    in_force = [(start, amount) for start, amount in levels if start <= on]
    if not in_force:
        raise problem(
            "period",
            "standard_level.none",
            f"no standard level is in force on {on.isoformat()}",
            f"không có mức chuẩn trợ giúp xã hội áp dụng vào ngày {on.isoformat()}",
        )
    return max(in_force)[1]


def amount_for(
    programme: Programme,
    period: str,
    *,
    standard_levels: Iterable[tuple[dt.date, int]],
    coefficient_milli: int | None = None,
    on: dt.date | None = None,
) -> int:
    """Integer VND due for one period: fixed, or coefficient × standard level in force."""
    check_period(programme, period)
    day = on or (programme.valid_from if period == ONCE else period_start(period))
    rule = rule_in_force(programme.rules, day)
    if rule is None:
        raise problem(
            "period",
            "amount_rule.none",
            f"{programme.code} has no amount in force on {day.isoformat()}",
            f"{programme.code} chưa có mức chi áp dụng vào ngày {day.isoformat()}",
        )
    if programme.amount_kind == "fixed":
        assert rule.fixed_amount is not None
        return rule.fixed_amount
    coefficient = coefficient_milli if coefficient_milli is not None else rule.coefficient_milli
    if coefficient is None or coefficient <= 0:
        raise problem(
            "coefficient",
            "coefficient.required",
            f"{programme.code} needs a positive coefficient",
            f"{programme.code} cần hệ số lớn hơn 0",
        )
    level = standard_level_on(standard_levels, day)
    # coefficients are multiples of 0.5 (thousandths here); round half up to whole VND anyway
    return (coefficient * level + 500) // 1000


@dataclass(frozen=True)
class Claim:
    """One person's claim under one programme for a period, as exclusion rules see it."""

    key: int  # the caller's handle (enrollment id, row number…)
    programme: str
    amount: int


@dataclass(frozen=True)
class ExclusionDecision:
    keep: tuple[Claim, ...]
    excluded: tuple[tuple[Claim, Claim], ...]  # (excluded claim, the claim that won)


def resolve_exclusions(claims: Sequence[Claim], group: ExclusionGroup) -> ExclusionDecision:
    """Which of one person's claims in one exclusion group and period may be paid.

    ``highest_wins``: the highest amount is kept (ties: the first claim); ``one_only``: the first
    claim is kept. Claims whose programme pair the group allows are all kept.
    """
    if not claims:
        return ExclusionDecision((), ())
    ordered = (
        sorted(claims, key=lambda c: -c.amount) if group.policy == "highest_wins" else list(claims)
    )
    keep: list[Claim] = []
    excluded: list[tuple[Claim, Claim]] = []
    for claim in ordered:
        blocker = next((k for k in keep if not group.allows(k.programme, claim.programme)), None)
        if blocker is None:
            keep.append(claim)
        else:
            excluded.append((claim, blocker))
    return ExclusionDecision(tuple(keep), tuple(excluded))
