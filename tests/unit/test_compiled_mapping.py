"""The compiled mapping agrees with the reference path (extraction + record.validate) on every
row it accepts, accepts the clean rows, and hands everything doubtful to the reference path."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.welfare.files import open_list
from gateway.security.vault import PiiVault, Purpose
from mappings import compiled, engine, record
from tests.fixtures.welfare.make_fixtures import HCM_HEADER

FIXTURES = Path(__file__).parents[1] / "fixtures" / "welfare"

# each column draws from clean values, near misses and plain garbage
CELLS: dict[str, list[Any]] = {
    "Mã đối tượng": ["HS-0001", " HS 2 ", "", "Mã  số", "HS\t3"],
    "Họ tên đối tượng": ["Nguyễn Văn An", "Nguyễn  Văn An", "", "  ", "Tổng cộng", "Ngo\u0302 Thi"],
    "Ngày tháng năm sinh": ["03/04/1950", "1950-04-03", "1950", "31/02/1950", "", "18356", "x"],
    "Giới tính": ["Nam", "Nữ", "nu", "M", "F", "1", "0", "X", ""],
    "Số CCCD": [
        "079050000101",
        "079150000101",  # gender digit says female
        "079051000101",  # birth year 1951
        "003050000101",  # unknown prefix: a warning
        "07905000010",  # eleven digits
        "079 050 000 101",
        "０７９０５０００００１０１",  # full-width digits
        "079950000101",  # born 2250
        "",
    ],
    "Số CMND": ["", "023456789", "02345678", "023 456 789"],
    "Hệ mã": ["", "2025-07", "legacy63", "cũ", "2099"],
    "Mã xã, phường": ["26743", "4", "", "2674A", "267430"],
    "Hệ số": ["1", "1,5", "2.5", "", "0", "11", "abc"],
    "Hình thức nhận": ["Chuyển khoản", "Tiền mặt", "", "Séc"],
    "Mã NH": ["970436", "", "97043"],
    "Số tài khoản": ["0071000123456", "", "12 345 678", "12345", "１２３４５６７８"],
    "Điện thoại": ["0912345678", "", "+84912345678", "091234567", "0912 345 678"],
}


def _reference(mapping: engine.Mapping, header: list[str], cells: list[Any]) -> Any:
    fields, problems = mapping.bind_header(header)(cells)
    checked = record.validate(fields)
    return problems, checked


@settings(max_examples=400, deadline=None)
@given(st.fixed_dictionaries({k: st.sampled_from(v) for k, v in CELLS.items()}))
def test_compiled_rows_agree_with_the_reference(row: dict[str, Any]) -> None:
    mapping = engine.load("provinces/hcm_btxh_csv")
    cells = ["1", *(row[h] for h in HCM_HEADER[1:])]
    fast = compiled.compile_table(mapping, HCM_HEADER)(cells)
    problems, checked = _reference(mapping, HCM_HEADER, cells)
    clean = not problems and isinstance(checked, record.Canonical) and not checked.warnings
    if fast is not None:  # accepted at file speed: exactly what the reference accepts
        assert clean and checked.values() == fast
    elif clean:  # the only clean rows the compiled path may leave to the reference
        digits = str(row["Số CCCD"]) + str(row["Số tài khoản"])
        assert not digits.isascii() or " " in digits


def test_clean_fixture_rows_take_the_compiled_path() -> None:
    for name, filename in (
        ("provinces/hcm_btxh_csv", "hcm_btxh_2026-07.csv"),
        ("provinces/xlsx_commune_sheets", "commune_sheets_2026-07.xlsx"),
        ("canonical", "template_canonical.csv"),
    ):
        mapping = engine.load(name)
        accepted = 0
        for table in open_list(FIXTURES / filename, mapping.source).tables():
            fast = compiled.compile_table(mapping, table.header or (), table.sheet)
            skip = mapping.skipper(table.header or ())
            for _, cells in table.cells:
                if skip(cells):
                    continue
                values = fast(cells)
                assert values is not None, (name, cells)
                reference = record.validate(
                    mapping.bind_header(table.header or (), table.sheet)(cells)[0]
                )
                assert isinstance(reference, record.Canonical) and reference.values() == values
                accepted += 1
        assert accepted == 5, name


def test_json_records_compile_and_odd_values_go_to_the_reference() -> None:
    mapping = engine.load("provinces/rest_v1")
    fast = compiled.compile_keys(mapping)
    item = {
        "maHoSo": "HS-0001",
        "nguoiHuong": {
            "hoTen": "Nguyễn Văn An",
            "ngaySinh": "03/04/1950",
            "gioiTinh": "Nam",
            "soDinhDanh": "079050000101",
        },
        "diaChi": {"heMa": "2025-07", "maXa": "26743"},
        "heSo": 1.5,  # a JSON number, never taken from a cache of text values
        "chiTra": {"hinhThuc": "CK", "maNganHang": "970436", "soTaiKhoan": "0071000123456"},
    }
    values = fast(item)
    reference = record.validate(mapping.bind_keys()(item)[0])
    assert isinstance(reference, record.Canonical) and values == reference.values()
    assert values is not None and values[8] == 1500
    odd = {**item, "diaChi": {"heMa": "2025-07", "maXa": {"ma": "26743"}}}  # an object, not a code
    assert fast(odd) is None
    assert isinstance(record.validate(mapping.bind_keys()(odd)[0]), list)


def test_cached_conversions_stay_bounded() -> None:
    mapping = engine.load("canonical")
    header = ["Họ và tên", "Ngày sinh", "Mã xã/phường", "Số định danh cá nhân"]
    row = compiled.compile_table(mapping, header)
    start = dt.date(1930, 1, 1)
    for n in range(30_000):  # more distinct names and dates than the caches hold
        born = start + dt.timedelta(days=n)
        values = row(
            [f"Người Số {n}", born.strftime("%d/%m/%Y"), "26743", f"0790{born:%y}{n:06d}"[:12]]
        )
        assert values is None or values[3] == f"Người Số {n}"
    caches = row.caches  # type: ignore[attr-defined]
    assert len(caches) == 3 and all(len(c) <= 20_002 for c in caches)  # names, dates, communes


def test_blind_index_is_hmac_sha256() -> None:
    vault = PiiVault.single(b"k" * 32, b"i" * 32)
    expected = hmac.new(b"i" * 32, b"pid\x00079050000101", hashlib.sha256).digest()[:16]
    assert vault.index("079050000101", Purpose.PID) == expected
