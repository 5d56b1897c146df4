"""The official ISO 20022 XSDs we pin (``xsd/``, see ``xsd/SOURCES.md``) and validation that tells
a broken file from a bank's harmless quirk.

Real banks send over-long narrative text and proprietary status codes that the XSD forbids. Such
*facet* violations on text are tolerated with a warning; anything structural (a missing or
unexpected element, a wrong date) makes the file ``file.xsd.invalid``.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

from lxml import etree

from adapters.payments.errors import rejected
from adapters.payments.iso20022 import xmlsafe

PINNED = (
    "pain.001.001.03",
    "pain.001.001.09",
    "pain.002.001.10",
    "pain.002.001.11",
    "camt.053.001.02",
    "camt.053.001.08",
    "camt.054.001.02",
    "camt.054.001.08",
)
NS_PREFIX = "urn:iso:std:iso:20022:tech:xsd:"
_ELEMENT = re.compile(r"Element '(?:\{[^}]*\})?([\w]+)'")
# facets a bank's narrative or proprietary code breaks without changing what the file means
TOLERATED = {"SCHEMAV_CVC_MAXLENGTH_VALID", "SCHEMAV_CVC_ENUMERATION_VALID"}
_TEXT_TAGS = {
    "Ustrd",
    "AddtlInf",
    "AddtlNtryInf",
    "AddtlTxInf",
    "Nm",
    "AdrLine",
    "GrpSts",
    "TxSts",
    "PmtInfSts",
    "Prtry",
    "Cd",
}


@functools.cache
def schema(version: str) -> etree.XMLSchema:
    text = resources.files(__package__).joinpath(f"xsd/{version}.xsd").read_bytes()
    return etree.XMLSchema(etree.fromstring(text, xmlsafe.parser()))


def schema_for(namespace: str) -> etree.XMLSchema | None:
    version = namespace.removeprefix(NS_PREFIX)
    return schema(version) if namespace.startswith(NS_PREFIX) and version in PINNED else None


def validate(tree: etree._ElementTree, namespace: str) -> list[str]:
    """Warnings for tolerated quirks; raise ``file.xsd.invalid`` for anything else."""
    xsd = schema_for(namespace)
    if xsd is None or xsd.validate(tree):
        return []
    return _verdict(list(xsd.error_log), namespace)


# the repeated record of each message: cleared as soon as the validator has seen it
RECORDS = ("Ntry", "TxInfAndSts", "CdtTrfTxInf", "OrgnlPmtInfAndSts", "PmtInf")


def validate_stream(source: xmlsafe.Source, namespace: str) -> list[str]:
    """``validate`` without building the tree: libxml2 checks the schema while parsing, and each
    record is dropped once seen, so memory stays flat whatever the file's size."""
    xsd = schema_for(namespace)
    if xsd is None:
        return []
    tags = [f"{{{namespace}}}{t}" for t in RECORDS]
    etree.clear_error_log()  # iterparse reports through the thread's log: only this file's
    try:
        with xmlsafe.opened(source) as fh:
            for _event, el in xmlsafe.iterparse(fh, events=("end",), tag=tags, schema=xsd):
                el.clear(keep_tail=False)
                parent = el.getparent()
                while parent is not None and el.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as exc:
        errors = list(exc.error_log)
        if not errors or any(e.domain_name != "SCHEMASV" for e in errors):
            raise xmlsafe.malformed(exc) from None
        return _verdict(errors, namespace)
    return []


def _verdict(errors: list[etree._LogEntry], namespace: str) -> list[str]:
    tolerated_lines: set[tuple[int, str]] = set()
    warnings, fatal = [], []
    for error in errors:
        tag = _element(error.message) or _local(error.path)
        where = f"line {error.line}: " if error.line else ""
        if error.type_name in TOLERATED and tag in _TEXT_TAGS:
            tolerated_lines.add((error.line, tag))
            warnings.append(f"{where}{tag} breaks a schema facet; kept as sent")
        elif (
            error.type_name == "SCHEMAV_CVC_DATATYPE_VALID_1_2_1"
            and (error.line, tag) in tolerated_lines
        ):
            continue  # the second half of the facet error already tolerated
        else:
            fatal.append(f"{where}{error.message}")
    if fatal:
        raise rejected(
            "file.xsd.invalid",
            f"the file breaks the {namespace.removeprefix(NS_PREFIX)} schema: {fatal[0]}",
            f"tệp không đúng lược đồ {namespace.removeprefix(NS_PREFIX)}: {fatal[0]}",
            errors=fatal[:20],
        )
    return warnings


def _element(message: str) -> str | None:
    match = _ELEMENT.search(message or "")
    return match.group(1) if match else None


def _local(path: str | None) -> str:
    last = (path or "").rsplit("/", 1)[-1]
    last = last.split("[", 1)[0]
    return last.rsplit(":", 1)[-1]
