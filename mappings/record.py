"""The canonical record: one row, every field converted and checked, every problem collected.

This is the validator every source goes through (a compiled, marshmallow-equivalent check that
runs at file speed): a mapping only extracts canonical *raw* values; ``validate`` turns them into
typed values or returns the full list of problems (field, rule, English and Vietnamese). Checks
that need the database (admin unit exists, amount in force, account owner) come after, in
``gateway.services.intake``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.domain.dates import BirthDate
from gateway.domain.personal_id import cross_check, parse_legacy_id, parse_personal_id
from gateway.errors import FieldProblem, ValidationFailed
from mappings import converters


@dataclass(slots=True)
class Canonical:
    source_ref: str | None
    personal_id: str | None
    legacy_id: str | None
    full_name: str
    birth: BirthDate
    gender: str | None
    scheme: str
    commune_code: str
    coefficient_milli: int | None
    channel: str
    bank_bin: str | None
    account_number: str | None
    phone: str | None
    programme: str | None = None
    warnings: tuple[FieldProblem, ...] = ()

    def values(self) -> tuple[Any, ...]:
        """The fields in ``mappings.compiled.FIELDS`` order (what the compiled path returns)."""
        return (
            self.source_ref,
            self.personal_id,
            self.legacy_id,
            self.full_name,
            self.birth,
            self.gender,
            self.scheme,
            self.commune_code,
            self.coefficient_milli,
            self.channel,
            self.bank_bin,
            self.account_number,
            self.phone,
            self.programme,
        )

    @classmethod
    def of(cls, values: tuple[Any, ...]) -> Canonical:
        return cls(*values)

    def as_row(self) -> dict[str, str]:
        """The canonical template's spelling of this record (what a province would export)."""
        milli = self.coefficient_milli
        return {
            "source_ref": self.source_ref or "",
            "personal_id": self.personal_id or "",
            "legacy_id": self.legacy_id or "",
            "full_name": self.full_name,
            "birth_date": self.birth.iso(),
            "gender": self.gender or "",
            "scheme": self.scheme,
            "commune_code": self.commune_code,
            "coefficient": "" if milli is None else f"{milli / 1000:g}",
            "channel": self.channel,
            "bank_bin": self.bank_bin or "",
            "account_number": self.account_number or "",
            "phone": self.phone or "",
        }


def _required(name: str) -> FieldProblem:
    return FieldProblem(name, f"{name}.required", "is required", "bắt buộc phải có")


def validate(
    raw: Mapping[str, object], *, default_scheme: str = "2025-07"
) -> Canonical | list[FieldProblem]:
    """Check one canonical raw row; return every problem found, not only the first."""
    problems: list[FieldProblem] = []
    warnings: list[FieldProblem] = []

    def attempt(fn: Callable[..., Any], value: object) -> Any:
        try:
            return fn(value)
        except ValidationFailed as exc:
            problems.extend(exc.problems)
            return None

    get = raw.get
    pid = legacy = None
    raw_pid = converters.digits(get("personal_id"))
    raw_legacy = converters.digits(get("legacy_id"))
    if raw_pid is not None:
        parsed = attempt(parse_personal_id, raw_pid)
        if parsed is not None:
            pid = parsed.pid
            warnings.extend(parsed.warnings)
    if raw_legacy is not None:
        legacy = attempt(parse_legacy_id, raw_legacy)
    if raw_pid is None and raw_legacy is None:
        problems.append(
            FieldProblem(
                "personal_id",
                "personal_id.required",
                "a personal ID or a legacy CMND number is required",
                "phải có số định danh cá nhân hoặc số CMND cũ",
            )
        )
    name = converters.name(get("full_name"))
    if name is None:
        problems.append(_required("full_name"))
    birth = attempt(converters.birth_date, get("birth_date"))
    gender = attempt(converters.gender, get("gender"))
    scheme = attempt(converters.admin_scheme, get("scheme")) or default_scheme
    commune = attempt(converters.admin_code, get("commune_code"))
    if commune is None and not any(p.field == "commune_code" for p in problems):
        problems.append(
            FieldProblem(
                "commune_code",
                "admin_unit.unknown",
                "(empty) is not a commune code",
                "(trống) không phải mã xã/phường",
            )
        )
    coefficient = attempt(converters.coefficient_milli, get("coefficient"))
    bin_code = attempt(converters.bank_bin, get("bank_bin"))
    account = attempt(converters.account_number, get("account_number"))
    phone = attempt(converters.phone, get("phone"))
    channel = attempt(
        lambda v: converters.channel(v, has_account=account is not None), get("channel")
    )
    if channel == "bank" and (bin_code is None or account is None) and not problems:
        problems.append(
            FieldProblem(
                "account_number",
                "account.required_for_bank",
                "bank payment needs both a BIN and an account number",
                "chi trả qua ngân hàng cần cả mã BIN và số tài khoản",
            )
        )
    if problems:
        return problems
    assert isinstance(birth, BirthDate) and name is not None and commune is not None
    if pid is not None:
        warnings.extend(cross_check(pid, birth_year=birth.year, gender=gender))
    programme = converters.text(get("programme"))
    return Canonical(
        source_ref=converters.text(get("source_ref")),
        personal_id=pid.value if pid is not None else None,
        legacy_id=legacy.value if legacy is not None else None,
        full_name=name,
        birth=birth,
        gender=gender,
        scheme=scheme,
        commune_code=commune,
        coefficient_milli=coefficient,
        channel=channel,
        bank_bin=bin_code,
        account_number=account,
        phone=phone,
        programme=programme,
        warnings=tuple(warnings),
    )
