"""The programme catalogue as the database holds it, turned into the pure rules of the domain."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, select

from gateway.db.tables import (
    allowed_combination,
    amount_rule,
    exclusion_group,
    programme,
    standard_level,
)
from gateway.domain import programmes as rules
from gateway.errors import problem


@dataclass(frozen=True)
class ProgrammeRow:
    id: int
    code: str
    name_vi: str
    name_en: str
    rule: rules.Programme


@dataclass(frozen=True)
class Catalogue:
    programmes: dict[str, ProgrammeRow]
    groups: dict[str, rules.ExclusionGroup]
    levels: tuple[tuple[dt.date, int], ...]

    def programme(self, code: str) -> ProgrammeRow:
        try:
            return self.programmes[code]
        except KeyError:
            raise problem(
                "programme",
                "programme.unknown",
                f"no programme {code!r}",
                f"không có chương trình {code!r}",
            ) from None

    def by_id(self, programme_id: int) -> ProgrammeRow:
        return next(p for p in self.programmes.values() if p.id == programme_id)

    def check_period(self, code: str, period: str) -> None:
        rules.check_period(self.programme(code).rule, period)

    def amount(self, code: str, period: str, coefficient_milli: int | None) -> int:
        return rules.amount_for(
            self.programme(code).rule,
            period,
            standard_levels=self.levels,
            coefficient_milli=coefficient_milli,
        )

    def group_of(self, code: str) -> rules.ExclusionGroup | None:
        group = self.programme(code).rule.exclusion_group
        return self.groups.get(group) if group else None


def load_catalogue(conn: Connection) -> Catalogue:
    rule_rows: dict[int, list[rules.AmountRule]] = {}
    for r in conn.execute(select(amount_rule)):
        rule_rows.setdefault(r.programme_id, []).append(
            rules.AmountRule(r.effective_from, r.fixed_amount, r.coefficient_milli)
        )
    progs = {
        p.code: ProgrammeRow(
            p.id,
            p.code,
            p.name_vi,
            p.name_en,
            rules.Programme(
                p.code,
                p.periodicity,
                p.amount_kind,
                p.exclusion_group,
                tuple(rule_rows.get(p.id, ())),
                p.valid_from,
                p.valid_to,
            ),
        )
        for p in conn.execute(select(programme))
    }
    code_of = {p.id: p.code for p in progs.values()}
    pairs: dict[str, set[frozenset[str]]] = {}
    for a, b in conn.execute(
        select(allowed_combination.c.programme_a, allowed_combination.c.programme_b)
    ):
        group = progs[code_of[a]].rule.exclusion_group
        if group:
            pairs.setdefault(group, set()).add(frozenset((code_of[a], code_of[b])))
    groups = {
        g.code: rules.ExclusionGroup(g.code, g.policy, frozenset(pairs.get(g.code, set())))
        for g in conn.execute(select(exclusion_group))
    }
    levels = tuple(
        conn.execute(select(standard_level.c.effective_from, standard_level.c.amount)).all()
    )
    return Catalogue(progs, groups, levels)
