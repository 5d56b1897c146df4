"""Vietnamese first, English on request: each text is written as a (vi, en) pair where it is
used; labels of the closed vocabularies (states, case types, flags) live here."""

from __future__ import annotations

from flask import request, session

LANGS = ("vi", "en")

LABELS: dict[str, tuple[str, str]] = {
    # enrollment states
    "proposed": ("Đề xuất", "Proposed"),
    "verified": ("Đã xác minh", "Verified"),
    "approved": ("Đã duyệt, chưa chi", "Approved, unpaid"),
    "paid": ("Đã chi trả", "Paid"),
    "rejected": ("Từ chối", "Rejected"),
    "cancelled": ("Đã hủy", "Cancelled"),
    "suspended": ("Tạm dừng", "Suspended"),
    # channels
    "bank": ("Chuyển khoản ngân hàng", "Bank transfer"),
    "postoffice": ("Bưu điện (tiền mặt)", "Post office (cash)"),
    # mismatch case types
    "approved_unpaid": ("Đã duyệt nhưng chưa chi", "Approved but unpaid"),
    "paid_not_approved": ("Đã chi nhưng chưa duyệt", "Paid but not approved"),
    "duplicate_payment": ("Chi trùng", "Duplicate payment"),
    "amount_mismatch": ("Lệch số tiền", "Amount mismatch"),
    "identity_mismatch": ("Lệch nhân thân với CSDL dân cư", "Identity mismatch with registry"),
    "deceased": ("Đã chết theo CSDL dân cư", "Deceased in registry"),
    "not_found": ("Không có trong CSDL dân cư", "Not found in registry"),
    "ticked_elsewhere": ("Đã hưởng ở nơi khác", "Ticked elsewhere"),
    "account_name_mismatch": ("Tên chủ tài khoản không khớp", "Account name mismatch"),
    "returned_payment": ("Khoản chi bị trả lại", "Returned payment"),
    "unknown_outcome_overdue": ("Chưa rõ kết quả, quá hạn", "Unknown outcome, overdue"),
    "unknown_reference": ("Xác nhận không khớp lệnh chi", "Confirmation for unknown reference"),
    # flags
    "enrolled_elsewhere": ("Đang hưởng ở nơi khác", "Enrolled elsewhere"),
    "duplicate_in_intake": ("Trùng trong danh sách", "Listed twice"),
    "exclusive_programme": ("Chương trình loại trừ nhau", "Exclusive programme"),
    "possible_duplicate": ("Có thể trùng người", "Possible duplicate"),
    "pid_inconsistent": ("Số định danh lệch ngày sinh/giới tính", "ID disagrees with birth/gender"),
    "legacy_unresolved": ("CMND cũ chưa tra được", "Legacy CMND unresolved"),
    "split_commune": ("Xã cũ bị chia tách", "Split commune"),
    # roles
    "commune_officer": ("Cán bộ xã", "Commune officer"),
    "district_officer": ("Cán bộ huyện", "District officer"),
    "province_officer": ("Cán bộ tỉnh", "Province officer"),
    "ministry_officer": ("Cán bộ bộ", "Ministry officer"),
    "auditor": ("Kiểm toán", "Auditor"),
    "bank_client": ("Ngân hàng", "Bank"),
    # case statuses / flag statuses
    "open": ("Đang mở", "Open"),
    "resolved": ("Đã xử lý", "Resolved"),
    "closed": ("Đã đóng", "Closed"),
    "overridden": ("Đã vượt cờ", "Overridden"),
    "replayed": ("Đã nạp lại", "Replayed"),
    "discarded": ("Đã loại bỏ", "Discarded"),
}


def lang() -> str:
    chosen = session.get("lang")
    if chosen in LANGS:
        return str(chosen)
    return "vi" if request.accept_languages.best_match(LANGS, "vi") != "en" else "en"


def tr(vi: str, en: str | None = None) -> str:
    """Pick one of a (vi, en) pair; a single "vi|en" string is split."""
    if en is None and "|" in vi:
        vi, en = vi.split("|", 1)
    return en if lang() == "en" and en else vi


def label(key: object) -> str:
    pair = LABELS.get(str(key))
    if pair is None:
        return str(key)
    return tr(*pair)


def message(vi: str, en: str) -> str:
    return tr(vi, en)
