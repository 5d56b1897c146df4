"""Hardened XML reading: no DTD, no entities, no network, no huge trees — and what the document is.

Every ISO 20022 file is read through here. A document that declares a DTD (the vehicle of XXE and
entity-expansion attacks) is refused outright (``file.xml.forbidden``); malformed XML is refused
as ``file.xml.malformed``. ``sniff`` reads only the first elements to learn the message type and
namespace, so the caller can choose a schema and stream the rest.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from lxml import etree

from adapters.payments.errors import MessageRejected, rejected

SAFE = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
}
Source = bytes | Path

# the business element directly under <Document> names the message, whatever the namespace says
ROOTS = {
    "CstmrCdtTrfInitn": "pain.001",
    "CstmrPmtStsRpt": "pain.002",
    "BkToCstmrAcctRpt": "camt.052",
    "BkToCstmrStmt": "camt.053",
    "BkToCstmrDbtCdtNtfctn": "camt.054",
}
_VERSION = re.compile(r"(pain|camt)\.(\d{3})\.(\d{3})\.(\d{2})")


def parser(**extra: Any) -> etree.XMLParser:
    return etree.XMLParser(remove_blank_text=False, **SAFE, **extra)


def open_source(source: Source) -> IO[bytes]:
    return source.open("rb") if isinstance(source, Path) else io.BytesIO(source)


@contextmanager
def opened(source: Source) -> Iterator[IO[bytes]]:
    """The bytes to parse, closed when the caller is done (also when it stops early)."""
    if isinstance(source, Path):
        with source.open("rb") as fh:
            yield fh
    else:
        yield io.BytesIO(source)


def iterparse(fh: IO[bytes], **kwargs: Any) -> Any:
    return etree.iterparse(fh, **SAFE, **kwargs)


@dataclass(frozen=True)
class Sniffed:
    kind: str  # pain.001 | pain.002 | camt.052 | camt.053 | camt.054
    namespace: str  # "" when the file declares none
    version: str | None  # e.g. camt.053.001.08, from the namespace; None when it cannot tell
    warnings: tuple[str, ...]


def sniff(source: Source) -> Sniffed:
    """Read up to the business element; refuse DTDs and malformed starts."""
    seen: list[etree._Element] = []
    try:
        with opened(source) as fh:
            for _event, element in iterparse(fh, events=("start",)):
                if not seen and element.getroottree().docinfo.doctype:
                    raise hostile()
                seen.append(element)
                if len(seen) == 2:
                    break
    except etree.XMLSyntaxError as exc:
        raise malformed(exc) from None
    if len(seen) < 2:
        raise unsupported("the document has no business element")
    root, body = (etree.QName(e) for e in seen)
    warnings: list[str] = []
    if root.localname != "Document":
        warnings.append(f"root element is {root.localname}, not Document")
    kind = ROOTS.get(body.localname)
    if kind is None:
        raise unsupported(f"unsupported message element {body.localname}")
    namespace = body.namespace or ""
    match = _VERSION.search(namespace)
    version = match.group(0) if match else None
    if not namespace:
        warnings.append(f"no XML namespace; read as {kind} by its element names")
    elif version is None or not version.startswith(kind):
        warnings.append(f"unexpected namespace {namespace!r}; read as {kind}")
    elif not namespace.startswith("urn:iso:std:iso:20022:tech:xsd:"):
        warnings.append(f"bank-specific namespace {namespace!r}; read as {version}")
    return Sniffed(kind, namespace, version, tuple(warnings))


def hostile() -> MessageRejected:
    return rejected(
        "file.xml.forbidden",
        "the XML declares a DTD or entities, which are refused (XXE protection)",
        "tệp XML khai báo DTD hoặc thực thể — bị từ chối (chống tấn công XXE)",
    )


def malformed(exc: Exception) -> MessageRejected:
    line = getattr(exc, "lineno", None)
    return rejected(
        "file.xml.malformed",
        f"the file is not well-formed XML (line {line})",
        f"tệp không phải XML hợp lệ (dòng {line})",
        line=line,
    )


def unsupported(why: str) -> MessageRejected:
    return rejected(
        "file.kind.unsupported",
        f"not a supported ISO 20022 message: {why}",
        f"không phải thông điệp ISO 20022 được hỗ trợ: {why}",
    )
