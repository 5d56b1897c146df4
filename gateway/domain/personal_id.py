"""Personal identification numbers (số định danh cá nhân) and legacy 9-digit CMND numbers.

Structure (Decree 137/2015 Art. 13; DOMAIN.md §1): digits 1–3 are the province where the birth
was *registered* (not the residence), digit 4 encodes century and gender, digits 5–6 the last two
digits of the birth year, 7–12 a random serial. There is no check digit. A 9-digit CMND has no
algorithmic relation to the 12-digit number: it is a separate type, resolved only by the registry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gateway.errors import FieldProblem, ValidationFailed

# Circular 07/2016/TT-BCA Appendix 1: "0" + the pre-2025 GSO province code.
BIRTH_REGISTRATION_PREFIXES = frozenset(
    [
        "001",
        "002",
        "004",
        "006",
        "008",
        "010",
        "011",
        "012",
        "014",
        "015",
        "017",
        "019",
        "020",
        "022",
        "024",
        "025",
        "026",
        "027",
        "030",
        "031",
        "033",
        "034",
        "035",
        "036",
        "037",
        "038",
        "040",
        "042",
        "044",
        "045",
        "046",
        "048",
        "049",
        "051",
        "052",
        "054",
        "056",
        "058",
        "060",
        "062",
        "064",
        "066",
        "067",
        "068",
        "070",
        "072",
        "074",
        "075",
        "077",
        "079",
        "080",
        "082",
        "083",
        "084",
        "086",
        "087",
        "089",
        "091",
        "092",
        "093",
        "094",
        "095",
        "096",
    ]
)


@dataclass(frozen=True)
class PersonalId:
    """A structurally valid 12-digit personal ID number."""

    value: str

    @property
    def prefix(self) -> str:
        return self.value[:3]

    @property
    def gender(self) -> str:
        return "M" if int(self.value[3]) % 2 == 0 else "F"

    @property
    def birth_year(self) -> int:
        d4 = int(self.value[3])
        return 1900 + 100 * (d4 // 2) + int(self.value[4:6])

    @property
    def prefix_known(self) -> bool:
        return self.prefix in BIRTH_REGISTRATION_PREFIXES

    @property
    def masked(self) -> str:
        return mask(self.value)

    def __str__(self) -> str:  # never print an ID in clear by accident
        return self.masked

    def __repr__(self) -> str:
        return f"PersonalId({self.masked})"


@dataclass(frozen=True)
class LegacyId:
    """A 9-digit CMND number (Decree 05/1999); only the registry can relate it to a PersonalId."""

    value: str

    @property
    def masked(self) -> str:
        return mask(self.value)

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"LegacyId({self.masked})"


@dataclass(frozen=True)
class Parsed:
    """A parsed personal ID and the warnings (not errors) raised while reading it."""

    pid: PersonalId
    warnings: tuple[FieldProblem, ...] = ()


def mask(number: str) -> str:
    """``079*******45`` for a 12-digit number; first three and last two digits stay visible."""
    if len(number) <= 5:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 5) + number[-2:]


def parse_personal_id(
    raw: object, *, field: str = "personal_id", today: dt.date | None = None
) -> Parsed:
    """Validate a 12-digit personal ID; raise ``ValidationFailed`` naming the field and rule."""
    text = _digits_only(raw)
    if text is None:
        raise _fail(field, "personal_id.required", "is required", "bắt buộc phải có")
    if len(text) == 9 and text.isdigit():
        raise _fail(
            field,
            "personal_id.legacy_cmnd",
            "is a 9-digit CMND number; put it in the legacy ID field, it is never converted",
            "là số CMND 9 số; hãy ghi vào trường CMND cũ, số này không được quy đổi",
        )
    if len(text) == 11 and text.isdigit():
        raise _fail(
            field,
            "personal_id.leading_zero_lost",
            "has 11 digits: the leading zero was probably lost by a spreadsheet; store IDs as text",
            "có 11 chữ số: có thể bảng tính đã làm mất số 0 ở đầu; hãy lưu số định danh "
            "dạng văn bản",
        )
    if len(text) != 12 or not text.isdigit():
        raise _fail(
            field,
            "personal_id.format",
            f"must be exactly 12 digits (got {len(text)} characters)",
            f"phải gồm đúng 12 chữ số (nhận được {len(text)} ký tự)",
        )
    pid = PersonalId(text)
    year_now = (today or dt.date.today()).year
    if pid.birth_year > year_now:
        raise _fail(
            field,
            "personal_id.birth_year_future",
            f"digits 4–6 give birth year {pid.birth_year}, which is in the future",
            f"chữ số 4–6 cho năm sinh {pid.birth_year}, là năm trong tương lai",
        )
    warnings: tuple[FieldProblem, ...] = ()
    if not pid.prefix_known:
        warnings = (
            FieldProblem(
                field,
                "personal_id.prefix_unknown",
                f"birth-registration prefix {pid.prefix} is not one of the 63 province codes",
                f"mã nơi đăng ký khai sinh {pid.prefix} không thuộc 63 mã tỉnh",
            ),
        )
    return Parsed(pid, warnings)


def parse_legacy_id(raw: object, *, field: str = "legacy_id") -> LegacyId:
    text = _digits_only(raw)
    if text is None or len(text) != 9 or not text.isdigit():
        raise _fail(
            field,
            "legacy_id.format",
            "must be exactly 9 digits (an old CMND number)",
            "phải gồm đúng 9 chữ số (số CMND cũ)",
        )
    return LegacyId(text)


def cross_check(
    pid: PersonalId,
    *,
    birth_year: int | None,
    gender: str | None,
    field: str = "personal_id",
) -> list[FieldProblem]:
    """Compare the year and gender encoded in the ID with those supplied beside it."""
    problems: list[FieldProblem] = []
    if birth_year is not None and birth_year != pid.birth_year:
        problems.append(
            FieldProblem(
                field,
                "personal_id.birth_year_mismatch",
                f"encodes birth year {pid.birth_year} but the birth date says {birth_year}",
                f"mã hóa năm sinh {pid.birth_year} nhưng ngày sinh ghi năm {birth_year}",
            )
        )
    if gender is not None and gender != pid.gender:
        problems.append(
            FieldProblem(
                field,
                "personal_id.gender_mismatch",
                f"encodes gender {pid.gender} but the record says {gender}",
                f"mã hóa giới tính {_gender_vi(pid.gender)} nhưng hồ sơ ghi {_gender_vi(gender)}",
            )
        )
    return problems


def _gender_vi(gender: str) -> str:
    return {"M": "Nam", "F": "Nữ"}.get(gender, gender)


def _digits_only(raw: object) -> str | None:
    if raw is None:
        return None
    text = str(raw).strip().replace(" ", "")
    return text or None


def _fail(field: str, rule: str, message: str, message_vi: str) -> ValidationFailed:
    return ValidationFailed([FieldProblem(field, rule, message, message_vi)])
