"""The canonical template provinces can export to without a custom mapping (CSV and XLSX).

Row 1 holds the Vietnamese headers (the English field names are accepted as aliases); the XLSX
adds a second sheet explaining every column in both languages."""

from __future__ import annotations

import csv
import io

from mappings.canonical import FIELDS

EXAMPLE = {
    "source_ref": "HS-0001",
    "personal_id": "079050000101",
    "legacy_id": "",
    "full_name": "Nguyễn Văn An",
    "birth_date": "04/03/1950",
    "gender": "Nam",
    "scheme": "2025-07",
    "commune_code": "26743",
    "coefficient": "1,5",
    "channel": "bank",
    "bank_bin": "970436",
    "account_number": "0071000123456",
    "phone": "0912345678",
}


def csv_bytes(*, example: bool = True) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([f.header_vi for f in FIELDS])
    if example:
        writer.writerow([EXAMPLE[f.name] for f in FIELDS])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def xlsx_bytes(*, example: bool = True) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Danh sách"
    sheet.append([f.header_vi for f in FIELDS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    if example:
        sheet.append([EXAMPLE[f.name] for f in FIELDS])
    for column in ("B", "C", "L", "M"):  # ID, CMND, account, phone: text, keep leading zeros
        for cell in sheet[column]:
            cell.number_format = "@"
    notes = book.create_sheet("Hướng dẫn")
    notes.append(["Cột", "Field (English alias)", "Bắt buộc", "Ghi chú", "Note"])
    for f in FIELDS:
        notes.append([f.header_vi, f.name, "x" if f.required else "", f.note_vi, f.note_en])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
