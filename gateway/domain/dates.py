"""Birth dates as Vietnamese records carry them: a full date, or only a year (common for the old).

Accepted spellings: ``dd/mm/yyyy`` (also ``-`` or ``.`` separators, one-digit day/month),
ISO ``yyyy-mm-dd``, a bare year ``yyyy``, and Excel serial day numbers when the caller says the
cell was numeric. Anything else is rejected with the field and rule named — never guessed
(``03/04/1950`` is 3 April, the Vietnamese order, never 4 March).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from gateway.errors import FieldProblem, ValidationFailed

_DMY = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?$")
_YEAR = re.compile(r"^(\d{4})$")
_EXCEL_EPOCH = dt.date(1899, 12, 30)  # Excel's 1900 system, including its 1900-02-29 bug offset
MIN_YEAR = 1890


@dataclass(frozen=True, order=True)
class BirthDate:
    """A birth date that may be known only to the year."""

    year: int
    month: int | None = None
    day: int | None = None

    @property
    def is_year_only(self) -> bool:
        return self.month is None

    @property
    def date(self) -> dt.date | None:
        if self.month is None or self.day is None:
            return None
        return dt.date(self.year, self.month, self.day)

    def iso(self) -> str:
        if self.month is None:
            return f"{self.year:04d}"
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"

    def matches(self, other: BirthDate) -> bool:
        """Equal where both are known: a year-only record matches any date in that year."""
        if self.year != other.year:
            return False
        if self.is_year_only or other.is_year_only:
            return True
        return (self.month, self.day) == (other.month, other.day)

    @classmethod
    def of(cls, value: dt.date) -> BirthDate:
        return cls(value.year, value.month, value.day)


def parse_birth_date(
    raw: object, *, field: str = "birth_date", today: dt.date | None = None
) -> BirthDate:
    """Parse one of the accepted spellings; raise ``ValidationFailed`` naming field and rule."""
    today = today or dt.date.today()
    if isinstance(raw, dt.datetime):
        raw = raw.date()
    if isinstance(raw, dt.date):
        return _checked(BirthDate.of(raw), field, today)
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return _checked(_from_excel_serial(raw, field), field, today)
    text = "" if raw is None else str(raw).strip()
    if not text:
        raise _fail(field, "date.required", "is required", "bắt buộc phải có")
    for pattern, order in ((_DMY, "dmy"), (_ISO, "ymd")):
        match = pattern.match(text)
        if match:
            a, b, c = (int(g) for g in match.groups()[:3])
            year, month, day = (c, b, a) if order == "dmy" else (a, b, c)
            return _checked(_build(year, month, day, field, text), field, today)
    match = _YEAR.match(text)
    if match:
        return _checked(BirthDate(int(match.group(1))), field, today)
    raise _fail(
        field,
        "date.format",
        f"{text!r} is not a date; use dd/mm/yyyy, yyyy-mm-dd or a year",
        f"{text!r} không phải là ngày; hãy dùng dd/mm/yyyy, yyyy-mm-dd hoặc năm",
    )


def parse_excel_serial(serial: float, *, field: str = "birth_date") -> BirthDate:
    return _from_excel_serial(serial, field)


def _from_excel_serial(serial: float, field: str) -> BirthDate:
    if serial != int(serial) or not 1 <= serial <= 2_958_465:
        raise _fail(
            field,
            "date.excel_serial",
            f"{serial} is not an Excel date serial number",
            f"{serial} không phải là số ngày của Excel",
        )
    return BirthDate.of(_EXCEL_EPOCH + dt.timedelta(days=int(serial)))


def _build(year: int, month: int, day: int, field: str, text: str) -> BirthDate:
    try:
        dt.date(year, month, day)
    except ValueError:
        raise _fail(
            field,
            "date.invalid",
            f"{text!r} is not a calendar date",
            f"{text!r} không phải là ngày có thật",
        ) from None
    return BirthDate(year, month, day)


def _checked(value: BirthDate, field: str, today: dt.date) -> BirthDate:
    if value.year < MIN_YEAR:
        raise _fail(
            field,
            "date.too_old",
            f"year {value.year} is before {MIN_YEAR}",
            f"năm {value.year} trước năm {MIN_YEAR}",
        )
    known = value.date or dt.date(value.year, 1, 1)
    if known > today:
        raise _fail(
            field,
            "date.future",
            f"{value.iso()} is in the future",
            f"{value.iso()} là ngày trong tương lai",
        )
    return value


def _fail(field: str, rule: str, message: str, message_vi: str) -> ValidationFailed:
    return ValidationFailed([FieldProblem(field, rule, message, message_vi)])
