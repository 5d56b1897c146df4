"""The mapping engine: files validated on load (file, line, key), legacy fonts, converters."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from adapters.welfare.files import merge_header
from gateway.domain.dates import BirthDate
from gateway.errors import ValidationFailed
from mappings import converters, engine, record
from mappings.errors import MappingError
from mappings.legacy_fonts import from_tcvn3, from_vni

GOOD = """\
[mapping]
name = "t"
format = "csv"

[fields]
full_name = { column = "Họ tên" }
birth_date = { column = "Ngày sinh" }
commune_code = { column = "Mã xã" }
"""


def _load(tmp_path: Path, text: str) -> engine.Mapping:
    path = tmp_path / "m.toml"
    path.write_text(text, encoding="utf-8")
    return engine.load(str(path))


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        (GOOD.replace('format = "csv"', 'format = "pdf"'), 3, "mapping.format"),
        (GOOD + 'gender = { column = "GT", convert = "x" }\n', 9, "fields.gender.convert"),
        (GOOD + 'hobby = { column = "Sở thích" }\n', 9, "fields.hobby"),
        (GOOD + 'gender = { column = "GT", codes = "gt" }\n', 9, "fields.gender.codes"),
        (
            GOOD + '\n[fields.gender]\ncolumn = "GT"\nlegacy = "ebcdic"\n',
            12,
            "fields.gender.legacy",
        ),
        (GOOD + 'gender = { column = "GT", pattern = "([0-9" }\n', 9, "fields.gender.pattern"),
        (GOOD + 'gender = { column = "GT", path = "a.b" }\n', 9, "fields.gender"),
        (GOOD.replace('commune_code = { column = "Mã xã" }\n', ""), 5, "fields"),
        ('[mapping]\nname = "t"\nformat = \n', 3, "(syntax)"),
    ],
)
def test_mapping_errors_point_at_file_line_and_key(
    tmp_path: Path, text: str, line: int, key: str
) -> None:
    with pytest.raises(MappingError) as exc:
        _load(tmp_path, text)
    assert (exc.value.path, exc.value.line, exc.value.key) == (str(tmp_path / "m.toml"), line, key)
    assert f"m.toml:{line}: {key}:" in exc.value.message and exc.value.message_vi


def test_shipped_mappings_load() -> None:
    for path in sorted(Path("mappings/provinces").glob("*.toml")):
        mapping = engine.load(f"provinces/{path.stem}")
        assert {"full_name", "birth_date", "commune_code"} <= set(mapping.fields)


def test_tcvn3_and_vni_become_unicode_nfc() -> None:
    assert from_tcvn3("B¶o Th¾ng") == "Bảo Thắng"  # a .VnTime place name
    assert from_tcvn3("NguyÔn ThÞ H\xad¬ng") == "Nguyễn Thị Hương"
    assert from_tcvn3("§inh V¨n") == "Đinh Văn"
    assert from_vni("Xin chaøo caùc baïn") == "Xin chào các bạn"
    assert from_vni("Nguyeãn Thò Höông") == "Nguyễn Thị Hương"
    assert from_vni("Traàn Vaên Ñöùc") == "Trần Văn Đức"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("03/04/1950", BirthDate(1950, 4, 3)),
        ("1950-04-03", BirthDate(1950, 4, 3)),
        ("1950", BirthDate(1950)),
        (18356, BirthDate(1950, 4, 3)),  # an Excel serial in a number cell
        ("18356", BirthDate(1950, 4, 3)),  # the same serial exported to CSV as text
        (dt.datetime(1950, 4, 3), BirthDate(1950, 4, 3)),  # a formatted date cell
    ],
)
def test_birth_dates_in_every_spelling(raw: object, expected: BirthDate) -> None:
    assert converters.birth_date(raw) == expected


def test_admin_codes_keep_their_width_and_scheme() -> None:
    assert converters.admin_code(26734.0) == "26734"
    assert converters.admin_code("4") == "00004"
    assert (
        converters.admin_scheme("cũ") == "legacy63" and converters.admin_scheme("34") == "2025-07"
    )
    with pytest.raises(ValidationFailed) as exc:
        converters.admin_code("2673A")
    assert exc.value.problems[0].rule == "admin_code.format"


def test_code_tables_translate_or_name_the_unknown_code() -> None:
    table = {"CK": "bank", "ck": "bank"}
    assert converters.code("CK", table, field="channel") == "bank"
    with pytest.raises(ValidationFailed) as exc:
        converters.code("XX", table, field="channel")
    assert exc.value.problems[0].field == "channel" and exc.value.problems[0].rule == "code.unknown"


def test_merged_header_rows_name_columns_by_leaf_and_group() -> None:
    top = ["STT", "Thông tin đối tượng", None, "Tài khoản", None]
    low = [None, "Họ và tên", "Ngày sinh", "Mã BIN", "Số tài khoản"]
    header = merge_header([top, low])
    assert header[0] == "STT"
    assert header[1] == ("Họ và tên", "Thông tin đối tượng / Họ và tên")
    assert header[4] == ("Số tài khoản", "Tài khoản / Số tài khoản")


def test_validator_collects_every_problem_and_cross_checks_the_id() -> None:
    bad = record.validate({"personal_id": "12345", "birth_date": "31/02/1950", "gender": "X"})
    assert isinstance(bad, list)
    assert {p.rule for p in bad} >= {
        "personal_id.format",
        "full_name.required",
        "date.invalid",
        "gender.unknown",
        "admin_unit.unknown",
    }
    ok = record.validate(
        {
            "personal_id": "079050000101",
            "full_name": "Nguyễn  Văn An",
            "birth_date": "1951-01-01",
            "commune_code": "26734",
        }
    )
    assert isinstance(ok, record.Canonical)
    assert ok.full_name == "Nguyễn Văn An" and ok.channel == "postoffice"
    assert [w.rule for w in ok.warnings] == ["personal_id.birth_year_mismatch"]
