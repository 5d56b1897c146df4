"""The programme catalogue the gateway ships with (amounts from DOMAIN.md §4), seeded idempotently.

* ``ND20-TCXH``  Decree 20/2021 monthly social allowance: coefficient × standard level.
* ``ND20-NCT80`` Decree 20/2021 Art. 5 group "aged 80+ without pension", coefficient 1.0.
* ``ND176-HTXH`` Decree 176/2025 social pension, 500,000 VND from 2025-07-01.
  The three share the exclusion group ``tcxh-hang-thang`` with policy *highest wins*
  (Decree 20 Art. 6; Decree 176: "they receive the higher").
* ``HCM-2021-GOI3`` Ho Chi Minh City 2021 package 3: 1,000,000 VND per person, paid once.

No allowed combination is seeded: every overlap DOMAIN.md documents inside a group is
exclusive (§4, §7: only the highest level); a pair the law allows is one ``allowed_combination``
row with its legal basis in ``note`` (docs/intake.md, "Programme rules").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, insert, select

from gateway.db.tables import amount_rule, exclusion_group, programme, standard_level
from gateway.domain import programmes as rules

D = dt.date

STANDARD_LEVELS = (
    (D(2014, 1, 1), 270_000, "Nghị định 136/2013/NĐ-CP"),
    (D(2021, 7, 1), 360_000, "Nghị định 20/2021/NĐ-CP"),
    (D(2024, 7, 1), 500_000, "Nghị định 76/2024/NĐ-CP"),
)

GROUPS = (
    (
        "tcxh-hang-thang",
        "Trợ cấp hằng tháng (chỉ hưởng mức cao nhất)",
        "Monthly social allowances (highest level only)",
        "highest_wins",
    ),
    (
        "hcm-2021-goi3",
        "Hỗ trợ gói 3 TP.HCM 2021 (một lần/người)",
        "HCMC 2021 package 3 (once per person)",
        "one_only",
    ),
)

PROGRAMMES: tuple[dict[str, Any], ...] = (
    {
        "code": "ND20-TCXH",
        "name_vi": "Trợ cấp xã hội hằng tháng",
        "name_en": "Monthly social allowance",
        "legal_basis": "Nghị định 20/2021/NĐ-CP",
        "ministry": "Bộ Y tế",
        "periodicity": "monthly",
        "amount_kind": "coefficient",
        "exclusion_group": "tcxh-hang-thang",
        "valid_from": D(2021, 7, 1),
        "rules": [(D(2021, 7, 1), None, 1000)],
    },
    {
        "code": "ND20-NCT80",
        "name_vi": "Trợ cấp người từ đủ 80 tuổi không có lương hưu",
        "name_en": "Allowance for people aged 80+ without a pension",
        "legal_basis": "Nghị định 20/2021/NĐ-CP, Điều 5",
        "ministry": "Bộ Y tế",
        "periodicity": "monthly",
        "amount_kind": "coefficient",
        "exclusion_group": "tcxh-hang-thang",
        "valid_from": D(2021, 7, 1),
        "rules": [(D(2021, 7, 1), None, 1000)],
    },
    {
        "code": "ND176-HTXH",
        "name_vi": "Trợ cấp hưu trí xã hội",
        "name_en": "Social pension",
        "legal_basis": "Nghị định 176/2025/NĐ-CP",
        "ministry": "Bộ Nội vụ",
        "periodicity": "monthly",
        "amount_kind": "fixed",
        "exclusion_group": "tcxh-hang-thang",
        "valid_from": D(2025, 7, 1),
        "rules": [(D(2025, 7, 1), 500_000, None)],
    },
    {
        "code": "HCM-2021-GOI3",
        "name_vi": "Hỗ trợ người dân gặp khó khăn do COVID-19 (gói 3, TP.HCM)",
        "name_en": "HCMC COVID-19 support, package 3",
        "legal_basis": "Nghị quyết HĐND TP.HCM 2021 (gói hỗ trợ lần 3)",
        "ministry": "UBND TP.HCM",
        "periodicity": "one_off",
        "amount_kind": "fixed",
        "exclusion_group": "hcm-2021-goi3",
        "valid_from": D(2021, 9, 1),
        "rules": [(D(2021, 9, 1), 1_000_000, None)],
    },
)


def seed(conn: Connection) -> int:
    """Insert what is missing; return how many programmes were added."""
    have_levels = set(conn.execute(select(standard_level.c.effective_from)).scalars())
    for start, amount, basis in STANDARD_LEVELS:
        if start not in have_levels:
            conn.execute(
                insert(standard_level).values(
                    effective_from=start, amount=amount, legal_basis=basis
                )
            )
    have_groups = set(conn.execute(select(exclusion_group.c.code)).scalars())
    for code, name_vi, name_en, policy in GROUPS:
        if code not in have_groups:
            conn.execute(
                insert(exclusion_group).values(
                    code=code, name_vi=name_vi, name_en=name_en, policy=policy
                )
            )
    have = set(conn.execute(select(programme.c.code)).scalars())
    added = 0
    for spec in PROGRAMMES:
        if spec["code"] in have:
            continue
        values = {k: v for k, v in spec.items() if k != "rules"}
        pid = conn.execute(insert(programme).values(values).returning(programme.c.id)).scalar_one()
        for start, fixed, coefficient in spec["rules"]:
            conn.execute(
                insert(amount_rule).values(
                    programme_id=pid,
                    effective_from=start,
                    fixed_amount=fixed,
                    coefficient_milli=coefficient,
                )
            )
        added += 1
    return added


def catalogue() -> dict[str, rules.Programme]:
    """The seed catalogue as domain values (for pure rules and tests without a database)."""
    return {
        str(spec["code"]): rules.Programme(
            code=str(spec["code"]),
            periodicity=str(spec["periodicity"]),
            amount_kind=str(spec["amount_kind"]),
            exclusion_group=spec["exclusion_group"],
            rules=tuple(
                rules.AmountRule(start, fixed, coefficient)
                for start, fixed, coefficient in spec["rules"]
            ),
            valid_from=spec["valid_from"],
        )
        for spec in PROGRAMMES
    }


def standard_levels() -> list[tuple[dt.date, int]]:
    return [(start, amount) for start, amount, _ in STANDARD_LEVELS]
