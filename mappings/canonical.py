"""The canonical intake row: the fields every mapping produces and the template provinces use.

Headers are Vietnamese first; the English alias is accepted too, so a province can export to the
canonical template without a custom mapping (``ansinh intake template``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CanonicalField:
    name: str
    header_vi: str
    required: bool
    note_en: str
    note_vi: str
    aliases: tuple[str, ...] = ()  # other spellings accepted in a header


FIELDS: tuple[CanonicalField, ...] = (
    CanonicalField(
        "source_ref",
        "Mã hồ sơ",
        False,
        "the row's identifier in the provincial database",
        "mã hồ sơ trong cơ sở dữ liệu của tỉnh",
    ),
    CanonicalField(
        "personal_id",
        "Số định danh cá nhân",
        False,
        "12-digit personal ID; required unless a legacy CMND is given",
        "số định danh 12 số; bắt buộc nếu không có số CMND cũ",
    ),
    CanonicalField(
        "legacy_id",
        "Số CMND cũ",
        False,
        "9-digit CMND, resolved through the registry",
        "số CMND 9 số, được tra cứu qua CSDLQG về dân cư",
    ),
    CanonicalField(
        "full_name", "Họ và tên", True, "family name first", "họ trước, tên sau", ("Full name",)
    ),
    CanonicalField(
        "birth_date",
        "Ngày sinh",
        True,
        "dd/mm/yyyy, yyyy-mm-dd or a year",
        "dd/mm/yyyy, yyyy-mm-dd hoặc năm sinh",
    ),
    CanonicalField("gender", "Giới tính", False, "Nam/Nữ, M/F or 1/0", "Nam/Nữ, M/F hoặc 1/0"),
    CanonicalField(
        "scheme",
        "Hệ mã hành chính",
        False,
        "legacy63 or 2025-07 (default 2025-07)",
        "legacy63 hoặc 2025-07 (mặc định 2025-07)",
    ),
    CanonicalField(
        "commune_code",
        "Mã xã/phường",
        True,
        "5-digit commune code in that scheme",
        "mã xã/phường 5 số theo hệ mã",
    ),
    CanonicalField(
        "coefficient",
        "Hệ số",
        False,
        "allowance coefficient (e.g. 1.5); programme default if empty",
        "hệ số trợ cấp (ví dụ 1,5); để trống dùng hệ số mặc định",
    ),
    CanonicalField(
        "channel",
        "Hình thức chi trả",
        False,
        "bank or postoffice; bank when an account is given",
        "ngân hàng hoặc bưu điện; ngân hàng nếu có số tài khoản",
    ),
    CanonicalField("bank_bin", "Mã ngân hàng (BIN)", False, "6-digit NAPAS BIN", "mã BIN 6 số"),
    CanonicalField("account_number", "Số tài khoản", False, "6–19 digits", "từ 6 đến 19 chữ số"),
    CanonicalField("phone", "Số điện thoại", False, "mobile number", "số điện thoại di động"),
)

NAMES = tuple(f.name for f in FIELDS)
HEADER_TO_FIELD = {f.header_vi.casefold(): f.name for f in FIELDS} | {
    f.name.casefold(): f.name for f in FIELDS
}
HEADERS_VI = tuple(f.header_vi for f in FIELDS)
