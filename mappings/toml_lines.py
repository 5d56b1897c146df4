"""Where a key sits in a TOML file: ``tomllib`` parses values but forgets lines, and a mapping
error must point at the line an officer has to fix."""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_\-.]+)\s*=""")
_INLINE_KEY = re.compile(r"""[{,]\s*("[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)\s*=""")


def _split_key(text: str) -> tuple[str, ...]:
    parts = re.findall(r""""[^"]*"|'[^']*'|[^.\s]+""", text)
    return tuple(p.strip("\"'") for p in parts)


def key_lines(source: str) -> dict[tuple[str, ...], int]:
    """Every table header and key path → its 1-based line (inline tables' keys included)."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for number, line in enumerate(source.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = _split_key(header.group(1))
            lines.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if not key:
            continue
        path = table + _split_key(key.group(1))
        lines.setdefault(path, number)
        brace = line.find("{", key.end())
        if brace >= 0:
            for inner in _INLINE_KEY.finditer(line, brace):
                lines.setdefault((*path, inner.group(1).strip("\"'")), number)
    return lines


def line_of(lines: dict[tuple[str, ...], int], path: tuple[str, ...]) -> int | None:
    """The line of ``path``, or of its nearest enclosing table when the key is missing."""
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return None
