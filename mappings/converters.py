"""Value converters shared by every mapping: each turns a raw cell into a canonical value or
raises ``ValidationFailed`` naming the field and the rule (Vietnamese and English)."""

from __future__ import annotations

import re
import unicodedata

from gateway.errors import problem

_GENDER = {
    "nam": "M",
    "m": "M",
    "male": "M",
    "1": "M",
    "trai": "M",
    "nữ": "F",
    "nu": "F",
    "f": "F",
    "female": "F",
    "0": "F",
    "gái": "F",
    "gai": "F",
}


def text(raw: object) -> str | None:
    if raw is None:
        return None
    value = " ".join(unicodedata.normalize("NFC", str(raw)).split())
    return value or None


def gender(raw: object, *, field: str = "gender") -> str | None:
    value = text(raw)
    if value is None:
        return None
    found = _GENDER.get(value.casefold())
    if found is None:
        raise problem(
            field,
            "gender.unknown",
            f"{value!r} is not a gender (Nam/Nữ, M/F, 1/0)",
            f"{value!r} không phải giới tính (Nam/Nữ, M/F, 1/0)",
        )
    return found


def coefficient_milli(raw: object, *, field: str = "coefficient") -> int | None:
    """``1,5`` or ``1.5`` → 1500 (thousandths); empty → None (programme default)."""
    value = text(raw)
    if value is None:
        return None
    match = re.fullmatch(r"(\d{1,2})(?:[.,](\d{1,3}))?", value)
    if not match:
        raise problem(
            field,
            "coefficient.format",
            f"{value!r} is not a coefficient such as 1.5",
            f"{value!r} không phải hệ số, ví dụ 1,5",
        )
    whole, frac = match.group(1), (match.group(2) or "").ljust(3, "0")
    milli = int(whole) * 1000 + int(frac)
    if not 0 < milli <= 10_000:
        raise problem(
            field,
            "coefficient.range",
            "must be above 0 and at most 10",
            "phải lớn hơn 0 và không quá 10",
        )
    return milli


def money(raw: object, *, field: str = "amount") -> int | None:
    """Integer VND from ``1.000.000``, ``1,000,000``, ``1000000`` or ``1000000đ``; never a float."""
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, float):
        if raw != int(raw):
            raise problem(
                field,
                "money.fraction",
                "VND amounts have no fraction",
                "số tiền VND không có phần lẻ",
            )
        return int(raw)
    value = text(raw)
    if value is None:
        return None
    cleaned = re.sub(r"\s*(?:vnđ|vnd|đồng|đ)$", "", value, flags=re.IGNORECASE)
    if re.fullmatch(r"\d{1,3}(?:([.,])\d{3})(?:\1\d{3})*", cleaned) or cleaned.isdigit():
        return int(re.sub(r"[.,]", "", cleaned))
    raise problem(
        field,
        "money.format",
        f"{value!r} is not an amount in VND",
        f"{value!r} không phải số tiền VND",
    )


def channel(raw: object, *, has_account: bool, field: str = "channel") -> str:
    value = text(raw)
    if value is None:
        return "bank" if has_account else "postoffice"
    key = value.casefold()
    if key in ("bank", "ngân hàng", "ngan hang", "chuyển khoản", "chuyen khoan", "tk"):
        return "bank"
    if key in ("postoffice", "post", "bưu điện", "buu dien", "tiền mặt", "tien mat", "cash"):
        return "postoffice"
    raise problem(
        field,
        "channel.unknown",
        f"{value!r} is not bank or postoffice",
        f"{value!r} không phải ngân hàng hoặc bưu điện",
    )


def bank_bin(raw: object, *, field: str = "bank_bin") -> str | None:
    value = text(raw)
    if value is None:
        return None
    if not re.fullmatch(r"\d{6}", value):
        raise problem(
            field, "bank_bin.format", "must be a 6-digit NAPAS BIN", "phải là mã BIN 6 chữ số"
        )
    return value


def account_number(raw: object, *, field: str = "account_number") -> str | None:
    value = text(raw)
    if value is None:
        return None
    value = value.replace(" ", "")
    if not re.fullmatch(r"\d{6,19}", value):
        raise problem(
            field, "account.format", "must be 6 to 19 digits", "phải gồm từ 6 đến 19 chữ số"
        )
    return value


def phone(raw: object, *, field: str = "phone") -> str | None:
    """Vietnamese mobile numbers to ``0xxxxxxxxx``; +84/84 prefixes accepted."""
    value = text(raw)
    if value is None:
        return None
    digits = re.sub(r"[\s.\-()]", "", value)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    if not re.fullmatch(r"0\d{9}", digits):
        raise problem(
            field,
            "phone.format",
            f"{value!r} is not a 10-digit phone number",
            f"{value!r} không phải số điện thoại 10 số",
        )
    return digits


# -- added for the mapping engine ------------------------------------------------------------

SCHEME_ALIASES = {
    "legacy63": "legacy63",
    "legacy": "legacy63",
    "63": "legacy63",
    "old": "legacy63",
    "cu": "legacy63",
    "cũ": "legacy63",
    "2025-07": "2025-07",
    "2025": "2025-07",
    "34": "2025-07",
    "new": "2025-07",
    "moi": "2025-07",
    "mới": "2025-07",
}


def name(raw: object, *, legacy: str = "unicode", field: str = "full_name") -> str | None:
    """A person's name: legacy font decoded, NFC, single spaces (required-ness is checked later)."""
    if raw is None:
        return None
    value = str(raw)
    if legacy != "unicode":
        from mappings.legacy_fonts import decode

        value = decode(value, legacy)
    return text(value)


def admin_scheme(raw: object, *, field: str = "scheme") -> str | None:
    """``legacy63`` or ``2025-07`` (several spellings); empty → None (the mapping's default)."""
    value = text(raw)
    if value is None:
        return None
    found = SCHEME_ALIASES.get(value.casefold())
    if found is None:
        raise problem(
            field,
            "admin_scheme.unknown",
            f"{value!r} is not an admin-code scheme (use legacy63 or 2025-07)",
            f"{value!r} không phải hệ mã hành chính (dùng legacy63 hoặc 2025-07)",
        )
    return found


def admin_code(raw: object, *, width: int = 5, field: str = "commune_code") -> str | None:
    """A GSO/NSO code as text of its level's width: 26734, 26734.0 and "26734" alike.

    The code means nothing without its scheme; translation old→new goes through the succession
    table (``gateway.services.units``), where a split commune is flagged, never guessed."""
    if isinstance(raw, float) and raw == int(raw):
        raw = int(raw)
    value = text(raw)
    if value is None:
        return None
    if not value.isdigit() or len(value) > width:
        raise problem(
            field,
            "admin_code.format",
            f"{value!r} is not a {width}-digit admin code",
            f"{value!r} không phải mã hành chính {width} chữ số",
        )
    return value.zfill(width)


def digits(raw: object) -> str | None:
    """Identity numbers as text: spaces and dots removed; numeric cells kept exact."""
    if isinstance(raw, float) and raw == int(raw):
        raw = int(raw)
    value = text(raw)
    if value is None:
        return None
    return value.replace(" ", "").replace(".", "").replace("-", "")


def birth_date(raw: object, *, field: str = "birth_date") -> object:
    """Dates as cells carry them: ``dd/mm/yyyy``, ``yyyy-mm-dd``, a year, or an Excel serial —
    a number cell, or five digits in a text cell (Excel exported to CSV without formatting)."""
    from gateway.domain.dates import parse_birth_date

    if isinstance(raw, str):
        stripped = raw.strip()
        if len(stripped) == 5 and stripped.isdigit():
            return parse_birth_date(int(stripped), field=field)
        return parse_birth_date(stripped, field=field)
    return parse_birth_date(raw, field=field)


def code(raw: object, table: dict[str, str], *, field: str, passthrough: bool = False) -> object:
    """Translate a source code through the mapping's code table (``[codes.<name>]``)."""
    value = text(raw)
    if value is None:
        return None
    found = table.get(value)
    if found is None:
        found = table.get(value.casefold())
    if found is not None:
        return found
    if passthrough:
        return value
    raise problem(
        field,
        "code.unknown",
        f"{value!r} is not a known code (known: {', '.join(sorted(table)[:8])})",
        f"{value!r} không phải mã đã biết (các mã: {', '.join(sorted(table)[:8])})",
    )
