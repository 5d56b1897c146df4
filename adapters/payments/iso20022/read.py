"""Streaming readers of ISO 20022 status reports and statements into confirmations.

``read(source)`` sniffs the message, validates it against the pinned XSD when the file is small
enough, and returns a ``ParsedFile`` whose ``items`` is a generator: entries are read with lxml
``iterparse`` and cleared as soon as they are turned into a ``ConfirmationItem``, so a
1,000,000-entry camt.053 is read in bounded memory.

Mapping (our instruction reference travels as ``EndToEndId``; the batch's message id as
``MsgId``/``PmtInfId``):

* pain.002 ``TxSts``: ACSC/ACCC → settled; ACCP/ACTC/ACSP/ACWC/ACFC/PDNG/RCVD → pending;
  RJCT → rejected; PART and proprietary codes → unknown (stored, never applied), with a warning.
  ``GrpSts``/``PmtInfSts`` give batch-level items (``scope="batch"``).
* camt.052/053/054 ``Ntry``: a debit booked → settled; a reversal (``RvslInd``) or return
  (``RtrInf``) → returned with its reason; ``PDNG`` → pending; other credits → credited.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lxml import etree

from adapters.payments.errors import MessageRejected
from adapters.payments.iso20022 import schemas, xmlsafe
from adapters.payments.iso20022.fields import (
    ParsedFile,
    Q,
    amount,
    item_amount,
    note,
    reason,
    release,
    text,
)
from adapters.payments.iso20022.statements import statement
from adapters.payments.port import ConfirmationItem

__all__ = ["ParsedFile", "read", "rejected_file"]

# the schema is checked while streaming (flat memory); above this, at ~50 µs an entry, it would
# dominate reading a national statement: such files are read without it, with a warning
VALIDATE_MAX_BYTES = 64 * 1024 * 1024
TX_STATUS = {
    "ACSC": "settled",
    "ACCC": "settled",
    "ACCP": "pending",
    "ACTC": "pending",
    "ACSP": "pending",
    "ACWC": "pending",
    "ACFC": "pending",
    "PDNG": "pending",
    "RCVD": "pending",
    "RJCT": "rejected",
}


def read(source: bytes | Path, *, validate: bool = True) -> ParsedFile:
    sniffed = xmlsafe.sniff(source)
    ns = sniffed.namespace
    warnings = list(sniffed.warnings)
    if validate:
        warnings += _validate(source, sniffed)
    header = _header(source, ns)
    parsed = ParsedFile(
        sniffed.kind,
        sniffed.version,
        ns,
        header.get("MsgId"),
        header.get("CreDtTm"),
        warnings,
        iter(()),
    )
    readers = {"pain.002": _status_report, "pain.001": _initiation}
    reader = readers.get(sniffed.kind, statement)
    parsed.items = _guard(reader(source, Q(ns), parsed))
    return parsed


def _validate(source: bytes | Path, sniffed: xmlsafe.Sniffed) -> list[str]:
    if schemas.schema_for(sniffed.namespace) is None:
        return [f"no pinned schema for {sniffed.version or sniffed.kind}; structure not validated"]
    size = source.stat().st_size if isinstance(source, Path) else len(source)
    if size > VALIDATE_MAX_BYTES:
        return [f"{size} bytes: streamed without full schema validation"]
    return schemas.validate_stream(source, sniffed.namespace)


def _header(source: bytes | Path, ns: str) -> dict[str, str]:
    q = Q(ns)
    try:
        with xmlsafe.opened(source) as fh:
            for _event, el in xmlsafe.iterparse(fh, events=("end",), tag=q("GrpHdr")):
                return {k: (el.findtext(q(k)) or "").strip() for k in ("MsgId", "CreDtTm")}
    except etree.XMLSyntaxError as exc:
        raise xmlsafe.malformed(exc) from None
    return {}


def _guard(items: Iterator[ConfirmationItem]) -> Iterator[ConfirmationItem]:
    try:
        yield from items
    except etree.XMLSyntaxError as exc:
        raise xmlsafe.malformed(exc) from None


# -- pain.002 ------------------------------------------------------------------------------


def _status(code: str | None, parsed: ParsedFile) -> str:
    outcome = TX_STATUS.get((code or "").upper())
    if outcome is None:
        note = f"status {code!r} is proprietary or partial; stored, not applied"
        if note not in parsed.warnings:
            parsed.warnings.append(note)
        return "unknown"
    return outcome


def _status_report(source: bytes | Path, q: Q, parsed: ParsedFile) -> Iterator[ConfirmationItem]:
    tags = (q("OrgnlGrpInfAndSts"), q("OrgnlPmtInfAndSts"), q("TxInfAndSts"))
    with xmlsafe.opened(source) as fh:
        yield from _status_events(fh, q, tags, parsed)


def _status_events(
    fh: Any, q: Q, tags: tuple[str, ...], parsed: ParsedFile
) -> Iterator[ConfirmationItem]:
    original_msg = ""
    for _event, el in xmlsafe.iterparse(fh, events=("end",), tag=tags):
        local = etree.QName(el).localname
        if local == "OrgnlGrpInfAndSts":
            original_msg = text(el, q, "OrgnlMsgId") or ""
            group = text(el, q, "GrpSts")
            if group:
                yield _batch_item(original_msg, group, reason(el, q, "StsRsnInf"), el, q, parsed)
            release(el)
        elif local == "TxInfAndSts":
            yield _tx_status(el, q, parsed)
            el.clear(keep_tail=False)
        else:
            status = text(el, q, "PmtInfSts")
            if status:
                ref = text(el, q, "OrgnlPmtInfId") or original_msg
                yield _batch_item(ref, status, reason(el, q, "StsRsnInf"), el, q, parsed)
            release(el)


def _batch_item(
    reference: str, status: str, reason: str | None, el: Any, q: Q, parsed: ParsedFile
) -> ConfirmationItem:
    parsed.counts["batch"] = parsed.counts.get("batch", 0) + 1
    return ConfirmationItem(
        reference=reference,
        item_key=f"sts:batch:{reference}:{status}",
        outcome=_status(status, parsed),
        reason_code=reason,
        raw_status=status,
        scope="batch",
        note=note(text(el, q, "StsRsnInf/AddtlInf"), parsed),
    )


def _tx_status(el: Any, q: Q, parsed: ParsedFile) -> ConfirmationItem:
    reference = text(el, q, "OrgnlEndToEndId", "OrgnlInstrId") or ""
    status = text(el, q, "TxSts") or ""
    amount_text, currency = amount(el, q, "OrgnlTxRef/Amt/InstdAmt", "OrgnlTxRef/Amt/EqvtAmt/Amt")
    parsed.counts["transactions"] = parsed.counts.get("transactions", 0) + 1
    return ConfirmationItem(
        reference=reference,
        item_key=f"sts:{reference}:{status}",
        outcome=_status(status, parsed),
        amount=item_amount(amount_text, currency, parsed),
        reason_code=reason(el, q, "StsRsnInf"),
        raw_status=status,
        currency=currency,
        amount_text=amount_text,
        note=note(text(el, q, "StsRsnInf/AddtlInf"), parsed),
    )


# -- pain.001 (what we, or someone, instructed) ---------------------------------------------


def _initiation(source: bytes | Path, q: Q, parsed: ParsedFile) -> Iterator[ConfirmationItem]:
    with xmlsafe.opened(source) as fh:
        yield from _initiation_events(fh, q, parsed)


def _initiation_events(fh: Any, q: Q, parsed: ParsedFile) -> Iterator[ConfirmationItem]:
    for _event, el in xmlsafe.iterparse(fh, events=("end",), tag=q("CdtTrfTxInf")):
        reference = text(el, q, "PmtId/EndToEndId", "PmtId/InstrId") or ""
        amount_text, currency = amount(el, q, "Amt/InstdAmt", "Amt/EqvtAmt/Amt")
        parsed.counts["transactions"] = parsed.counts.get("transactions", 0) + 1
        yield ConfirmationItem(
            reference=reference,
            item_key=f"instr:{reference}",
            outcome="instructed",
            amount=item_amount(amount_text, currency, parsed),
            currency=currency,
            amount_text=amount_text,
            note=note(text(el, q, "RmtInf/Ustrd"), parsed),
        )
        release(el)


# -- camt.052 / camt.053 / camt.054 ---------------------------------------------------------


def rejected_file(exc: MessageRejected) -> dict[str, Any]:
    """A refusal as the CLI prints it."""
    return {"rejected": True, **exc.as_dict()}
