"""Validation of a mapping file's contents, every error naming the file, line and key."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from mappings import canonical
from mappings.errors import MappingError
from mappings.legacy_fonts import ENCODINGS
from mappings.toml_lines import key_lines, line_of

TOP = {"mapping", "source", "defaults", "fields", "codes"}
MAPPING_KEYS = {"name", "title", "format", "version", "description"}
SOURCE_KEYS = {
    "encoding",
    "delimiter",
    "header_marker",
    "header_rows",
    "max_header_scan",
    "sheets",
    "skip",
    "items",
}
FIELD_KEYS = {
    "column",
    "path",
    "sheet",
    "const",
    "legacy",
    "codes",
    "passthrough",
    "pattern",
    "required",
}
SOURCES = ("column", "path", "sheet", "const")
FORMATS = ("csv", "xlsx", "json", "any")


class _Checker:
    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = key_lines(text)

    def fail(self, key: tuple[str, ...], message: str, message_vi: str) -> MappingError:
        return MappingError(self.path, line_of(self.lines, key), ".".join(key), message, message_vi)

    def table(self, data: Any, key: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(key, "must be a table", "phải là một bảng (table)")
        return data

    def keys(self, data: dict[str, Any], allowed: set[str], key: tuple[str, ...]) -> None:
        for name in data:
            if name not in allowed:
                raise self.fail(
                    (*key, name),
                    f"unknown key (allowed: {', '.join(sorted(allowed))})",
                    f"khóa không hợp lệ (được phép: {', '.join(sorted(allowed))})",
                )

    def text(self, data: dict[str, Any], name: str, key: tuple[str, ...]) -> str:
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise self.fail((*key, name), "must be a non-empty string", "phải là chuỗi không rỗng")
        return value

    def regex(self, value: Any, key: tuple[str, ...]) -> re.Pattern[str]:
        if not isinstance(value, str):
            raise self.fail(
                key, "must be a regular expression string", "phải là biểu thức chính quy"
            )
        try:
            return re.compile(value)
        except re.error as exc:
            raise self.fail(
                key, f"invalid regular expression: {exc}", f"biểu thức chính quy sai: {exc}"
            ) from None

    def one_of(self, value: Any, allowed: tuple[str, ...], key: tuple[str, ...]) -> str:
        if value not in allowed:
            raise self.fail(
                key,
                f"{value!r} is not one of {', '.join(allowed)}",
                f"{value!r} không thuộc {', '.join(allowed)}",
            )
        return str(value)


def parse_mapping(data: dict[str, Any], text: str, path: str, build: Callable[..., Any]) -> Any:
    from mappings.engine import SourceSpec

    check = _Checker(path, text)
    check.keys(data, TOP, ())
    meta = check.table(data.get("mapping"), ("mapping",))
    check.keys(meta, MAPPING_KEYS, ("mapping",))
    name = check.text(meta, "name", ("mapping",))
    fmt = check.one_of(meta.get("format"), FORMATS, ("mapping", "format"))
    source = _source(check, check.table(data.get("source", {}), ("source",)), fmt, SourceSpec)
    codes = _codes(check, check.table(data.get("codes", {}), ("codes",)))
    defaults = check.table(data.get("defaults", {}), ("defaults",))
    for key, value in defaults.items():
        if key not in canonical.NAMES:
            raise check.fail(("defaults", key), "not a canonical field", "không phải trường chuẩn")
        if not isinstance(value, str):
            raise check.fail(("defaults", key), "must be a string", "phải là chuỗi")
    raw_fields = check.table(data.get("fields"), ("fields",))
    fields = {n: _field(check, n, spec, codes, fmt) for n, spec in raw_fields.items()}
    for required in ("full_name", "birth_date", "commune_code"):
        if required not in fields and required not in defaults:
            raise check.fail(
                ("fields",),
                f"no source for the required field {required}",
                f"chưa khai báo nguồn cho trường bắt buộc {required}",
            )
    return build(
        name=name,
        title=str(meta.get("title", name)),
        origin=path,
        source=source,
        fields=fields,
        defaults={k: str(v) for k, v in defaults.items()},
    )


def _source(check: _Checker, data: dict[str, Any], fmt: str, spec: Any) -> Any:
    from mappings.engine import SkipRule

    check.keys(data, SOURCE_KEYS, ("source",))
    key = ("source",)
    encoding = data.get("encoding", "utf-8-sig")
    if encoding not in ENCODINGS[1:]:
        import codecs

        try:
            codecs.lookup(encoding)
        except (LookupError, TypeError):
            raise check.fail(
                (*key, "encoding"),
                f"unknown encoding {encoding!r}",
                f"bảng mã {encoding!r} không được hỗ trợ",
            ) from None
    header_rows = data.get("header_rows", 1)
    if not isinstance(header_rows, int) or not 1 <= header_rows <= 5:
        raise check.fail((*key, "header_rows"), "must be 1 to 5", "phải từ 1 đến 5")
    skip = []
    for rule in data.get("skip", []):
        rule = check.table(rule, (*key, "skip"))
        check.keys(rule, {"column", "pattern"}, (*key, "skip"))
        skip.append(
            SkipRule(
                check.text(rule, "column", (*key, "skip")),
                check.regex(rule.get("pattern"), (*key, "skip", "pattern")),
            )
        )
    sheets = data.get("sheets", ["*"])
    if isinstance(sheets, str):
        sheets = [sheets]
    if not isinstance(sheets, list) or not all(isinstance(s, str) for s in sheets):
        raise check.fail((*key, "sheets"), "must be a list of names", "phải là danh sách tên")
    marker = data.get("header_marker")
    if fmt == "xlsx" and not marker:
        raise check.fail(
            (*key, "header_marker"),
            "an xlsx mapping needs header_marker (text of the header row)",
            "mapping xlsx cần header_marker (chữ trong dòng tiêu đề)",
        )
    return spec(
        format=fmt,
        encoding=encoding,
        delimiter=str(data.get("delimiter", ",")),
        header_marker=marker,
        header_rows=header_rows,
        max_header_scan=int(data.get("max_header_scan", 30)),
        sheets=tuple(sheets),
        skip=tuple(skip),
        items=tuple(str(data.get("items", "")).split(".")) if data.get("items") else (),
    )


def _codes(check: _Checker, data: dict[str, Any]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for name, table in data.items():
        table = check.table(table, ("codes", name))
        for code, value in table.items():
            if not isinstance(value, str):
                raise check.fail(("codes", name, code), "must be a string", "phải là chuỗi")
        out[name] = {str(k): str(v) for k, v in table.items()}
    return out


def _field(
    check: _Checker, name: str, spec: Any, codes: dict[str, dict[str, str]], fmt: str
) -> Any:
    from mappings.engine import FieldSpec

    key = ("fields", name)
    if name not in canonical.NAMES and name != "programme":
        raise check.fail(
            key,
            f"not a canonical field (one of: {', '.join(canonical.NAMES)}, programme)",
            f"không phải trường chuẩn (một trong: {', '.join(canonical.NAMES)}, programme)",
        )
    spec = check.table(spec, key)
    check.keys(spec, FIELD_KEYS, key)
    given = [s for s in SOURCES if s in spec]
    if len(given) != 1:
        raise check.fail(
            key,
            "needs exactly one of column, path, sheet, const",
            "cần đúng một trong column, path, sheet, const",
        )
    columns = spec.get("column", ())
    if isinstance(columns, str):
        columns = (columns,)
    if not isinstance(columns, tuple | list) or not all(isinstance(c, str) for c in columns):
        raise check.fail((*key, "column"), "must be a name or a list", "phải là tên hoặc danh sách")
    legacy = spec.get("legacy", "unicode")
    check.one_of(legacy, ENCODINGS, (*key, "legacy"))
    table = None
    if "codes" in spec:
        if spec["codes"] not in codes:
            raise check.fail(
                (*key, "codes"),
                f"no [codes.{spec['codes']}] table",
                f"không có bảng [codes.{spec['codes']}]",
            )
        table = codes[spec["codes"]]
    path = spec.get("path", "")
    return FieldSpec(
        name,
        columns=tuple(columns),
        path=tuple(str(path).split(".")) if path else (),
        sheet=check.regex(spec["sheet"], (*key, "sheet")) if "sheet" in spec else None,
        const=str(spec["const"]) if "const" in spec else None,
        legacy=legacy,
        codes=table,
        passthrough=bool(spec.get("passthrough", False)),
        pattern=check.regex(spec["pattern"], (*key, "pattern")) if "pattern" in spec else None,
        required=bool(spec.get("required", name in ("full_name", "birth_date"))),
    )
