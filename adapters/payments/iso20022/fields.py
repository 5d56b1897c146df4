"""What every ISO 20022 reader shares: the parsed file, namespace-qualified paths, and the small
conversions from element text to confirmation fields (amounts in whole dong, dates, narrative cut
to ``Max140Text`` with a warning)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from adapters.payments.port import ConfirmationItem

NOTE_MAX = 140  # Max140Text: longer narrative is a quirk, cut and warned about


@dataclass
class ParsedFile:
    kind: str
    version: str | None
    namespace: str
    message_id: str | None
    created_at: str | None
    warnings: list[str]
    items: Iterator[ConfirmationItem]
    counts: dict[str, int] = field(default_factory=dict)


class Q:
    """Namespace-qualified paths, built once per file (``Ntry/Amt`` → ``{ns}Ntry/{ns}Amt``)."""

    def __init__(self, ns: str) -> None:
        self.ns = ns
        self._cache: dict[str, str] = {}

    def __call__(self, path: str) -> str:
        found = self._cache.get(path)
        if found is None:
            found = "/".join(f"{{{self.ns}}}{p}" if self.ns else p for p in path.split("/"))
            self._cache[path] = found
        return found


def release(el: Any) -> None:
    el.clear(keep_tail=False)
    parent = el.getparent()
    while parent is not None and el.getprevious() is not None:
        del parent[0]


def text(el: Any, q: Q, *paths: str) -> str | None:
    for path in paths:
        value = el.findtext(q(path))
        if value is not None and value.strip():
            return value.strip()
    return None


def amount(el: Any, q: Q, *paths: str) -> tuple[str | None, str | None]:
    for path in paths:
        node = el.find(q(path))
        if node is not None and node.text:
            return node.text.strip(), node.get("Ccy")
    return None, None


def item_amount(text: str | None, currency: str | None, parsed: ParsedFile) -> int | None:
    if text is None or (currency or "VND") != "VND":
        return None
    if text.isdigit():  # the usual case: whole dong
        return int(text)
    try:
        value = Decimal(text)
    except InvalidOperation:
        parsed.warnings.append(f"amount {text!r} is not a number")
        return None
    return int(value) if value == value.to_integral_value() else None


def note(text: str | None, parsed: ParsedFile) -> str | None:
    if text and len(text) > NOTE_MAX:
        if "remittance text longer than 140 characters was cut" not in parsed.warnings:
            parsed.warnings.append("remittance text longer than 140 characters was cut")
        return text[:NOTE_MAX]
    return text


def when(text: str | None) -> dt.datetime | None:
    return _when(text) if text else None


@functools.lru_cache(maxsize=1024)  # a statement repeats a few booking dates a million times
def _when(text: str) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def reason(el: Any, q: Q, prefix: str) -> str | None:
    return text(el, q, f"{prefix}/Rsn/Cd", f"{prefix}/Rsn/Prtry")
