"""The mapping engine: a declarative TOML file says where each canonical field comes from in one
province's export; the engine validates it on load (errors name file, line and key) and compiles
it, once per header, into a plain function from a source row to canonical raw values.

Converting and checking those values is ``mappings.record.validate``'s job, the same for every
source; the file format and the rules are documented in ``docs/intake.md``.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Callable, Sequence
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.errors import FieldProblem, ValidationFailed
from mappings import canonical, converters
from mappings.errors import FileRejected
from mappings.legacy_fonts import ENCODINGS, decode
from mappings.schema import parse_mapping

MAPPINGS_DIR = Path(__file__).parent
CANONICAL = "canonical"

Post = Callable[[object], object]
Extract = Callable[[Any], tuple[dict[str, object], list[FieldProblem]]]


def header_key(text: object) -> str:
    """Header cells compared without case, accents form or repeated spaces."""
    return " ".join(unicodedata.normalize("NFC", str(text or "")).casefold().split())


def header_index(header: Sequence[object]) -> dict[str, int]:
    """Header name → column; an entry may be a tuple of names (stacked, merged header rows)."""
    index: dict[str, int] = {}
    for position, cell in enumerate(header):
        for name in cell if isinstance(cell, tuple) else (cell,):
            if name not in (None, ""):
                index.setdefault(header_key(name), position)
    return index


@dataclass(frozen=True)
class FieldSpec:
    name: str
    columns: tuple[str, ...] = ()  # header names (aliases), for tables
    path: tuple[str, ...] = ()  # dotted path, for JSON items
    sheet: re.Pattern[str] | None = None  # group 1 of the sheet's title
    const: str | None = None
    legacy: str = "unicode"
    codes: AbcMapping[str, str] | None = None
    passthrough: bool = False
    pattern: re.Pattern[str] | None = None  # keep group 1 of the cell
    required: bool = False  # the column must exist, or the file is rejected

    def post(self) -> Post | None:
        steps: list[Post] = []
        legacy, pattern, name = self.legacy, self.pattern, self.name
        if legacy != "unicode":
            steps.append(lambda v: decode(str(v), legacy))
        if pattern is not None:
            steps.append(lambda v: _group(pattern, v, name))
        if self.codes is not None:
            table = {**self.codes, **{k.casefold(): v for k, v in self.codes.items()}}
            steps.append(
                lambda v: converters.code(v, table, field=self.name, passthrough=self.passthrough)
            )
        if not steps:
            return None
        if len(steps) == 1:
            return steps[0]

        def chain(value: object) -> object:
            for step in steps:
                if value is None or value == "":
                    return value
                value = step(value)
            return value

        return chain


def _group(pattern: re.Pattern[str], value: object, name: str) -> object:
    match = pattern.search(str(value))
    if match is None:
        raise ValidationFailed(
            [
                FieldProblem(
                    name,
                    "pattern.no_match",
                    f"{str(value)[:40]!r} does not contain the expected code",
                    f"{str(value)[:40]!r} không chứa mã cần tìm",
                )
            ]
        )
    return match.group(1) if match.groups() else match.group(0)


@dataclass(frozen=True)
class SkipRule:
    column: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class SourceSpec:
    format: str  # csv | xlsx | json | any
    encoding: str = "utf-8-sig"  # csv: a Python codec, or tcvn3 / vni (legacy fonts)
    delimiter: str = ","
    header_marker: str | None = None  # the header row is the first row holding this text
    header_rows: int = 1  # header rows (merged cells above the column names)
    max_header_scan: int = 30
    sheets: tuple[str, ...] = ("*",)  # xlsx: sheet titles to read (fnmatch patterns)
    skip: tuple[SkipRule, ...] = ()  # data rows to skip (totals, column numbering)
    items: tuple[str, ...] = ()  # json: where the list of records is


@dataclass(frozen=True)
class Mapping:
    name: str
    title: str
    origin: str  # file the mapping was read from
    source: SourceSpec
    fields: dict[str, FieldSpec]
    defaults: dict[str, str] = field(default_factory=dict)

    @property
    def required_columns(self) -> list[FieldSpec]:
        return [f for f in self.fields.values() if f.required and f.columns]

    def bind_header(self, header: Sequence[object], sheet: str | None = None) -> Extract:
        """Compile for one table: column positions are looked up once, not per row."""
        index = header_index(header)
        plan: list[tuple[str, int, Post | None]] = []
        constants: dict[str, object] = dict(self.defaults)
        missing: list[str] = []
        for spec in self.fields.values():
            if spec.const is not None:
                constants[spec.name] = spec.const
            elif spec.sheet is not None:
                constants[spec.name] = sheet_value(spec, sheet)
            elif spec.columns:
                found = next((index[k] for k in map(header_key, spec.columns) if k in index), None)
                if found is not None:
                    plan.append((spec.name, found, spec.post()))
                elif spec.required:
                    missing.append(spec.columns[0])
        if missing:
            raise FileRejected(
                "column.missing",
                f"required column(s) missing: {', '.join(missing)}"
                + (f" (sheet {sheet!r})" if sheet else ""),
                f"thiếu cột bắt buộc: {', '.join(missing)}"
                + (f" (trang tính {sheet!r})" if sheet else ""),
                columns=missing,
                sheet=sheet,
            )
        return _extractor(constants, plan)

    def bind_keys(self) -> Extract:
        """Compile for records that are dictionaries (JSON items, API rows, fake sources)."""
        getters: list[tuple[str, Callable[[AbcMapping[str, Any]], object], Post | None]] = []
        constants: dict[str, object] = dict(self.defaults)
        for spec in self.fields.values():
            if spec.const is not None:
                constants[spec.name] = spec.const
            elif spec.path:
                getters.append((spec.name, path_getter(spec.path), spec.post()))
            elif spec.columns:
                getters.append((spec.name, alias_getter(spec.columns), spec.post()))
            elif spec.sheet is not None:
                getters.append((spec.name, sheet_getter(spec), None))

        def extract(row: AbcMapping[str, Any]) -> tuple[dict[str, object], list[FieldProblem]]:
            out = dict(constants)
            problems: list[FieldProblem] = []
            for name, get, post in getters:
                value = get(row)
                if post is not None and value is not None and value != "":
                    try:
                        value = post(value)
                    except ValidationFailed as exc:
                        problems.extend(exc.problems)
                if (value is not None and value != "") or name not in out:
                    out[name] = value
            return out, problems

        return extract

    def skipper(self, header: Sequence[object]) -> Callable[[Sequence[object]], bool]:
        """Rows that are not records: empty, totals, the (1) (2) (3) column-number row."""
        index = header_index(header)
        rules = [
            (index[header_key(r.column)], r.pattern.search)
            for r in self.source.skip
            if header_key(r.column) in index
        ]

        def skip(cells: Sequence[object]) -> bool:
            for cell in cells:  # a row with content: usually decided by its first cell
                if cell is not None and (not isinstance(cell, str) or cell.strip()):
                    break
            else:
                return True
            width = len(cells)
            for position, search in rules:
                if position < width:
                    value = cells[position]
                    if value.__class__ is str:
                        if search(value):
                            return True
                    elif value is not None and search(str(value)):
                        return True
            return False

        return skip


def sheet_value(spec: FieldSpec, sheet: object) -> object:
    if sheet is None or spec.sheet is None:
        return None
    match = spec.sheet.search(str(sheet))
    if match is None:
        return None
    return match.group(1) if match.groups() else match.group(0)


def sheet_getter(spec: FieldSpec) -> Callable[[AbcMapping[str, Any]], object]:
    return lambda row: sheet_value(spec, row.get("@sheet"))


def _extractor(constants: dict[str, object], plan: list[tuple[str, int, Post | None]]) -> Extract:
    def extract(cells: Sequence[object]) -> tuple[dict[str, object], list[FieldProblem]]:
        out = dict(constants)
        problems: list[FieldProblem] = []
        width = len(cells)
        for name, position, post in plan:
            value = cells[position] if position < width else None
            if post is not None and value is not None and value != "":
                try:
                    value = post(value)
                except ValidationFailed as exc:
                    problems.extend(exc.problems)
            if (value is not None and value != "") or name not in out:
                out[name] = value
        return out, problems

    return extract


def path_getter(path: tuple[str, ...]) -> Callable[[AbcMapping[str, Any]], object]:
    if len(path) == 1:
        key = path[0]
        return lambda row: row.get(key)

    def get(row: AbcMapping[str, Any]) -> object:
        value: Any = row
        for part in path:
            if not isinstance(value, AbcMapping):
                return None
            value = value.get(part)
        return value

    return get


def alias_getter(columns: tuple[str, ...]) -> Callable[[AbcMapping[str, Any]], object]:
    keys = [*columns, *(header_key(c) for c in columns)]

    def get(row: AbcMapping[str, Any]) -> object:
        for key in keys:
            if key in row:
                return row[key]
        return None

    return get


# -- loading -----------------------------------------------------------------------------------

_CACHE: dict[str, tuple[float, Mapping]] = {}


def resolve_path(name: str) -> Path:
    """``provinces/hcm_btxh`` → ``mappings/provinces/hcm_btxh.toml``; a path is taken as is."""
    candidate = Path(name)
    if candidate.suffix == ".toml" and candidate.exists():
        return candidate
    inside = MAPPINGS_DIR / (name if name.endswith(".toml") else f"{name}.toml")
    if inside.exists():
        return inside
    raise FileRejected(
        "mapping.unknown",
        f"no mapping {name!r} (see mappings/provinces/, or use 'canonical')",
        f"không có mapping {name!r} (xem mappings/provinces/, hoặc dùng 'canonical')",
    )


def load(name: str) -> Mapping:
    """A mapping by name (``canonical``, ``provinces/<file>``) or path; validated, cached."""
    if name == CANONICAL:
        return canonical_mapping()
    path = resolve_path(name)
    stamp = path.stat().st_mtime
    cached = _CACHE.get(str(path))
    if cached is not None and cached[0] == stamp:
        return cached[1]
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        from mappings.errors import MappingError

        line = re.search(r"line (\d+)", str(exc))
        raise MappingError(
            str(path),
            int(line.group(1)) if line else None,
            "(syntax)",
            f"not valid TOML: {exc}",
            f"không phải TOML hợp lệ: {exc}",
        ) from None
    mapping = parse_mapping(data, text, str(path), _build)
    _CACHE[str(path)] = (stamp, mapping)
    return mapping


def _build(**kwargs: Any) -> Mapping:
    return Mapping(**kwargs)


def canonical_mapping() -> Mapping:
    """The canonical template: Vietnamese headers, the English field names as aliases."""
    fields = {
        f.name: FieldSpec(
            f.name,
            columns=(f.header_vi, f.name, *f.aliases),
            required=f.required,
        )
        for f in canonical.FIELDS
    }
    return Mapping(
        CANONICAL,
        "Mẫu chuẩn / canonical template",
        "(built in)",
        SourceSpec("any", header_marker=None),
        fields,
    )


__all__ = ["ENCODINGS", "FieldSpec", "Mapping", "SkipRule", "SourceSpec", "load"]
