"""Mappings compiled for file speed: the happy path of one table as one generated function.

``Mapping.bind_header`` / ``bind_keys`` and ``record.validate`` are the reference: they collect
every problem of a row, in both languages, which is what quarantine needs. Most rows of a real
list are clean, so intake first runs the compiled form of the mapping: column positions fixed when
the header is read, each field's mapping steps (legacy font, pattern, code table) fused with its
canonical converter, the conversion of values that repeat (names, dates, gender words, commune
codes, coefficients, payment forms) cached in bounded tables, and one straight-line function
generated for the table. It returns the canonical record, or ``None`` for a row with any problem
*or warning*; only those rows take the reference path, which then says what is wrong. Accepted
rows are identical either way (``tests/unit/test_compiled_mapping.py`` checks it on random rows).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from gateway.domain.personal_id import BIRTH_REGISTRATION_PREFIXES
from gateway.errors import ValidationFailed
from mappings import converters
from mappings.engine import (
    Mapping,
    alias_getter,
    header_index,
    header_key,
    path_getter,
    sheet_value,
)

Convert = Callable[[Any], object]
Values = tuple[Any, ...]  # the canonical fields in FIELDS order (``Canonical.values()``)
Row = Callable[[Any], Values | None]


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


BAD = _Marker("BAD")  # this value needs the reference path (a problem or a warning)
MISS = _Marker("MISS")


def _safe(convert: Callable[[Any], object]) -> Convert:
    def run(raw: Any) -> object:
        try:
            return convert(raw)
        except ValidationFailed:
            return BAD

    return run


def _text(raw: Any) -> object:
    if raw.__class__ is str and raw.isascii() and raw.isprintable() and "  " not in raw:
        return raw.strip() or None
    return converters.text(raw)


def _pid(raw: Any) -> object:
    """A clean 12-digit ID with a known prefix and a past birth year; anything else is BAD."""
    if raw.__class__ is str and len(raw) == 12 and raw.isascii() and raw.isdigit():
        text: str | None = raw
    else:
        text = converters.digits(raw)
        if text is None:
            return None
        if len(text) != 12 or not (text.isascii() and text.isdigit()):
            return BAD
    assert text is not None
    return text if pid_head(text[:6]) is not BAD else BAD


_HEADS: dict[str, object] = {}


def pid_head(head: str) -> Any:
    """(birth year, gender) from an ID's first six digits; BAD for an unknown birth-registration
    prefix (a warning) or a future year. Cached: there are few distinct heads."""
    found = _HEADS.get(head)
    if found is None:
        year = 1900 + 100 * (ord(head[3]) - 48 >> 1) + int(head[4:6])
        if head[:3] not in BIRTH_REGISTRATION_PREFIXES or year > dt.date.today().year:
            found = BAD
        else:
            found = (year, "F" if (ord(head[3]) - 48) & 1 else "M")
        if len(_HEADS) >= 100_000:
            _HEADS.clear()
        _HEADS[head] = found
    return found


def _legacy(raw: Any) -> object:
    text = converters.digits(raw)
    if text is None:
        return None
    return text if len(text) == 9 and text.isascii() and text.isdigit() else BAD


def _account(raw: Any) -> object:
    if raw.__class__ is str and 6 <= len(raw) <= 19 and raw.isascii() and raw.isdigit():
        return raw
    return _safe(converters.account_number)(raw)


def _phone(raw: Any) -> object:
    if (
        raw.__class__ is str
        and len(raw) == 10
        and raw[0] == "0"
        and raw.isdigit()
        and raw.isascii()
    ):
        return raw
    return _safe(converters.phone)(raw)


# canonical field (``finish``'s parameter order) → converter of a non-empty value, cache size
# (0: values are unique per person — ID and account numbers are never cached)
FIELDS: tuple[tuple[str, Convert, int], ...] = (
    ("source_ref", _text, 0),
    ("personal_id", _pid, 0),
    ("legacy_id", _legacy, 0),
    ("full_name", _safe(converters.name), 20_000),
    ("birth_date", _safe(converters.birth_date), 20_000),
    ("gender", _safe(converters.gender), 256),
    ("scheme", _safe(converters.admin_scheme), 256),
    ("commune_code", _safe(converters.admin_code), 8_192),
    ("coefficient", _safe(converters.coefficient_milli), 1_024),
    ("channel", _safe(lambda v: converters.channel(v, has_account=True)), 256),
    ("bank_bin", _safe(converters.bank_bin), 1_024),
    ("account_number", _account, 0),
    ("phone", _phone, 0),
    ("programme", _text, 256),
)


# Fields whose clean spelling is the canonical value itself (the converter would return it
# unchanged): tested in place in the generated code. Position → test on the raw text ``r``.
_INLINE = {
    1: "len(r) == 12 and r.isdigit() and r.isascii()",  # personal ID (head checked below)
    11: "5 < len(r) < 20 and r.isdigit() and r.isascii()",  # account number
    12: 'len(r) == 10 and r[0] == "0" and r.isdigit() and r.isascii()',  # phone
}

# The checks across fields (``record.validate``'s) for a row whose fields all converted, as the
# tail of the generated function; v0…v13 are the fields in FIELDS order. A pid that disagrees with
# the birth year or gender is a warning (flag ``pid_inconsistent``): the reference path records it.
_FINISH = """\
    if v3 is None or v4 is None or v7 is None:
        return None
    if v1 is None:
        if v2 is None:
            return None
    else:
        h = HEADS.get(v1[:6]) or HEAD(v1[:6])
        if h is BAD or h[0] != v4.year or (v5 is not None and v5 != h[1]):
            return None
    if v9 is None:
        v9 = "bank" if v11 is not None else "postoffice"
    if v9 == "bank" and (v10 is None or v11 is None):
        return None
    return (v0, v1, v2, v3, v4, v5, v6 or "2025-07", v7, v8, v9, v10, v11, v12, v13)
"""


def _fused(mapping: Mapping, name: str, convert: Convert, fallback: object) -> Convert:
    """The mapping's own steps for the field (legacy font, pattern, codes), then the converter."""
    spec = mapping.fields.get(name)
    post = spec.post() if spec is not None else None
    if post is None:
        return convert
    steps = post

    def run(raw: Any) -> object:
        try:
            value = steps(raw)
        except ValidationFailed:
            return BAD
        if value is None or value == "":
            return fallback
        return convert(value)

    return run


def _store(cache: dict[Any, object], convert: Convert, limit: int, empty: object) -> Convert:
    """Convert a value the cache does not hold; only text values are kept (1, 1.0 and True are
    equal keys in a dict, so numbers are converted each time)."""
    cache[""] = cache[None] = empty

    def store(raw: Any) -> object:
        value = convert(raw)
        if raw.__class__ is str:
            if len(cache) >= limit:
                cache.clear()  # bounded: memory does not grow with the list
                cache[""] = cache[None] = empty
            cache[raw] = value
        return value

    return store


def _constant(mapping: Mapping, name: str, sheet: object) -> object:
    """The raw value a field has when its column is absent or empty (None: no value)."""
    spec = mapping.fields.get(name)
    value: object = mapping.defaults.get(name)
    if spec is not None and spec.const is not None:
        value = spec.const
    elif spec is not None and spec.sheet is not None:
        value = sheet_value(spec, sheet)
    return value


def _generate(
    sources: list[str],
    cached: list[bool],
    plain: set[int],
    namespace: dict[str, object],
    width: int,
) -> Row:
    """One straight-line function: fetch, convert (cache first), give up on BAD, check across
    fields, return the values.

    Only generated names and integer positions go into the source; every value is passed in
    ``namespace``, so nothing read from a mapping or a file is ever compiled as code."""
    lines = ["def row(src):", "  try:"]
    if width:  # a short (ragged) row: the reference path reads what is there
        lines.append(f"    if len(src) < {width}:\n        return None")
    for k, fetch in enumerate(sources):
        if fetch == "":
            lines.append(f"    v{k} = F{k}")
            continue
        lines.append(f"    r = {fetch}")
        if cached[k]:  # the cache also holds the empty values ("" and None → the fallback)
            lines.append(f"    v{k} = M{k}.get(r, MISS)")
            lines.append(f"    if v{k} is MISS:\n        v{k} = S{k}(r)")
        elif k in plain and k in _INLINE:  # the clean spelling accepted as is, else converted
            test = _INLINE[k]
            lines.append(f"    if r.__class__ is str and {test}:\n        v{k} = r")
            lines.append(f'    else:\n        v{k} = F{k} if r is None or r == "" else U{k}(r)')
        else:
            lines.append(f'    v{k} = F{k} if r is None or r == "" else U{k}(r)')
        lines.append(f"    if v{k} is BAD:\n        return None")
    lines.append(_FINISH)
    lines.append(
        "  except TypeError:\n    return None  # an unhashable value (a JSON object): diagnose"
    )
    scope: dict[str, Any] = {}
    exec(compile("\n".join(lines), "<compiled mapping>", "exec"), namespace, scope)  # noqa: S102
    return scope["row"]


def _compile(
    mapping: Mapping,
    sheet: object,
    fetches: dict[str, str],
    extra: dict[str, object],
    width: int = 0,
) -> Row:
    namespace: dict[str, object] = {
        "BAD": BAD,
        "MISS": MISS,
        "HEADS": _HEADS,
        "HEAD": pid_head,
        **extra,
    }
    sources, cached, caches = [], [], []
    plain: set[int] = set()  # fields without mapping steps of their own
    _HEADS.clear()  # the year changes; a new list starts afresh
    for k, (name, convert, limit) in enumerate(FIELDS):
        raw = _constant(mapping, name, sheet)
        fallback = None if raw is None or raw == "" else convert(raw)
        if fetches.get(name, "") == "" and fallback is BAD:
            return lambda src: None  # a constant that never validates: every row is diagnosed
        fused = _fused(mapping, name, convert, fallback)
        if fused is convert:
            plain.add(k)
        namespace[f"F{k}"], namespace[f"U{k}"] = fallback, fused
        if limit and fetches.get(name):
            cache: dict[Any, object] = {}
            namespace[f"M{k}"] = cache
            namespace[f"S{k}"] = _store(cache, fused, limit, fallback)
            caches.append(cache)
        sources.append(fetches.get(name, ""))
        cached.append(bool(limit and fetches.get(name)))
    row = _generate(sources, cached, plain, namespace, width)
    row.caches = caches  # type: ignore[attr-defined]  # (inspected by tests: memory stays bounded)
    return row


def compile_table(mapping: Mapping, header: Sequence[object], sheet: str | None = None) -> Row:
    """The happy path for rows of one table (cells by position). Rows shorter than the last
    column used, and every row with a problem, give ``None`` (take the reference path)."""
    index = header_index(header)
    fetches: dict[str, str] = {}
    widest = -1
    for name, _, _ in FIELDS:
        spec = mapping.fields.get(name)
        if spec is None or not spec.columns or spec.const is not None or spec.sheet is not None:
            continue
        found = next((index[k] for k in map(header_key, spec.columns) if k in index), None)
        if found is not None:
            fetches[name] = f"src[{found}]"
            widest = max(widest, found)
    return _compile(mapping, sheet, fetches, {}, widest + 1)


def compile_keys(mapping: Mapping) -> Row:
    """The happy path for records that are dictionaries (REST items, API rows, fake sources)."""
    fetches: dict[str, str] = {}
    getters: dict[str, object] = {}
    for k, (name, _, _) in enumerate(FIELDS):
        spec = mapping.fields.get(name)
        if spec is None or spec.const is not None:
            continue
        if spec.path:
            getters[f"G{k}"] = path_getter(spec.path)
        elif spec.columns:
            getters[f"G{k}"] = alias_getter(spec.columns)
        elif spec.sheet is not None:
            pattern_spec = spec
            getters[f"G{k}"] = lambda row, s=pattern_spec: sheet_value(s, row.get("@sheet"))
        else:
            continue
        fetches[name] = f"G{k}(src)"
    return _compile(mapping, None, fetches, getters)
