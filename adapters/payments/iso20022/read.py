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

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from lxml import etree

from adapters.payments.errors import MessageRejected
from adapters.payments.iso20022 import schemas, xmlsafe
from adapters.payments.port import ConfirmationItem

# the schema is checked while streaming (flat memory); above this, at ~50 µs an entry, it would
# dominate reading a national statement: such files are read without it, with a warning
VALIDATE_MAX_BYTES = 64 * 1024 * 1024
NOTE_MAX = 140  # Max140Text: longer narrative is a quirk, cut and warned about
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
    reader = readers.get(sniffed.kind, _statement)
    parsed.items = _guard(reader(source, _Q(ns), parsed))
    return parsed


def _validate(source: bytes | Path, sniffed: xmlsafe.Sniffed) -> list[str]:
    if schemas.schema_for(sniffed.namespace) is None:
        return [f"no pinned schema for {sniffed.version or sniffed.kind}; structure not validated"]
    size = source.stat().st_size if isinstance(source, Path) else len(source)
    if size > VALIDATE_MAX_BYTES:
        return [f"{size} bytes: streamed without full schema validation"]
    return schemas.validate_stream(source, sniffed.namespace)


class _Q:
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


def _header(source: bytes | Path, ns: str) -> dict[str, str]:
    q = _Q(ns)
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


def _release(el: Any) -> None:
    el.clear(keep_tail=False)
    parent = el.getparent()
    while parent is not None and el.getprevious() is not None:
        del parent[0]


def _text(el: Any, q: _Q, *paths: str) -> str | None:
    for path in paths:
        value = el.findtext(q(path))
        if value is not None and value.strip():
            return value.strip()
    return None


def _amount(el: Any, q: _Q, *paths: str) -> tuple[str | None, str | None]:
    for path in paths:
        node = el.find(q(path))
        if node is not None and node.text:
            return node.text.strip(), node.get("Ccy")
    return None, None


def _item_amount(text: str | None, currency: str | None, parsed: ParsedFile) -> int | None:
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


def _note(text: str | None, parsed: ParsedFile) -> str | None:
    if text and len(text) > NOTE_MAX:
        if "remittance text longer than 140 characters was cut" not in parsed.warnings:
            parsed.warnings.append("remittance text longer than 140 characters was cut")
        return text[:NOTE_MAX]
    return text


def _when(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _reason(el: Any, q: _Q, prefix: str) -> str | None:
    return _text(el, q, f"{prefix}/Rsn/Cd", f"{prefix}/Rsn/Prtry")


# -- pain.002 ------------------------------------------------------------------------------


def _status(code: str | None, parsed: ParsedFile) -> str:
    outcome = TX_STATUS.get((code or "").upper())
    if outcome is None:
        note = f"status {code!r} is proprietary or partial; stored, not applied"
        if note not in parsed.warnings:
            parsed.warnings.append(note)
        return "unknown"
    return outcome


def _status_report(source: bytes | Path, q: _Q, parsed: ParsedFile) -> Iterator[ConfirmationItem]:
    tags = (q("OrgnlGrpInfAndSts"), q("OrgnlPmtInfAndSts"), q("TxInfAndSts"))
    with xmlsafe.opened(source) as fh:
        yield from _status_events(fh, q, tags, parsed)


def _status_events(
    fh: Any, q: _Q, tags: tuple[str, ...], parsed: ParsedFile
) -> Iterator[ConfirmationItem]:
    original_msg = ""
    for _event, el in xmlsafe.iterparse(fh, events=("end",), tag=tags):
        local = etree.QName(el).localname
        if local == "OrgnlGrpInfAndSts":
            original_msg = _text(el, q, "OrgnlMsgId") or ""
            group = _text(el, q, "GrpSts")
            if group:
                yield _batch_item(original_msg, group, _reason(el, q, "StsRsnInf"), el, q, parsed)
            _release(el)
        elif local == "TxInfAndSts":
            yield _tx_status(el, q, parsed)
            el.clear(keep_tail=False)
        else:
            status = _text(el, q, "PmtInfSts")
            if status:
                ref = _text(el, q, "OrgnlPmtInfId") or original_msg
                yield _batch_item(ref, status, _reason(el, q, "StsRsnInf"), el, q, parsed)
            _release(el)


def _batch_item(
    reference: str, status: str, reason: str | None, el: Any, q: _Q, parsed: ParsedFile
) -> ConfirmationItem:
    parsed.counts["batch"] = parsed.counts.get("batch", 0) + 1
    return ConfirmationItem(
        reference=reference,
        item_key=f"sts:batch:{reference}:{status}",
        outcome=_status(status, parsed),
        reason_code=reason,
        raw_status=status,
        scope="batch",
        note=_note(_text(el, q, "StsRsnInf/AddtlInf"), parsed),
    )


def _tx_status(el: Any, q: _Q, parsed: ParsedFile) -> ConfirmationItem:
    reference = _text(el, q, "OrgnlEndToEndId", "OrgnlInstrId") or ""
    status = _text(el, q, "TxSts") or ""
    amount_text, currency = _amount(el, q, "OrgnlTxRef/Amt/InstdAmt", "OrgnlTxRef/Amt/EqvtAmt/Amt")
    parsed.counts["transactions"] = parsed.counts.get("transactions", 0) + 1
    return ConfirmationItem(
        reference=reference,
        item_key=f"sts:{reference}:{status}",
        outcome=_status(status, parsed),
        amount=_item_amount(amount_text, currency, parsed),
        reason_code=_reason(el, q, "StsRsnInf"),
        raw_status=status,
        currency=currency,
        amount_text=amount_text,
        note=_note(_text(el, q, "StsRsnInf/AddtlInf"), parsed),
    )


# -- pain.001 (what we, or someone, instructed) ---------------------------------------------


def _initiation(source: bytes | Path, q: _Q, parsed: ParsedFile) -> Iterator[ConfirmationItem]:
    with xmlsafe.opened(source) as fh:
        yield from _initiation_events(fh, q, parsed)


def _initiation_events(fh: Any, q: _Q, parsed: ParsedFile) -> Iterator[ConfirmationItem]:
    for _event, el in xmlsafe.iterparse(fh, events=("end",), tag=q("CdtTrfTxInf")):
        reference = _text(el, q, "PmtId/EndToEndId", "PmtId/InstrId") or ""
        amount_text, currency = _amount(el, q, "Amt/InstdAmt", "Amt/EqvtAmt/Amt")
        parsed.counts["transactions"] = parsed.counts.get("transactions", 0) + 1
        yield ConfirmationItem(
            reference=reference,
            item_key=f"instr:{reference}",
            outcome="instructed",
            amount=_item_amount(amount_text, currency, parsed),
            currency=currency,
            amount_text=amount_text,
            note=_note(_text(el, q, "RmtInf/Ustrd"), parsed),
        )
        _release(el)


# -- camt.052 / camt.053 / camt.054 ---------------------------------------------------------


def _statement(source: bytes | Path, q: _Q, parsed: ParsedFile) -> Iterator[ConfirmationItem]:
    with xmlsafe.opened(source) as fh:
        for _event, el in xmlsafe.iterparse(fh, events=("end",), tag=q("Ntry")):
            yield from _entry(el, parsed)
            _release(el)


# what an entry's walk descends into: a few known children, never the whole subtree (BkTxCd,
# charges …) — the Python objects for elements nobody reads are what made the reader slow
_ENTRY_INTO = frozenset({"Sts", "BookgDt", "NtryDtls", "NtryDtls/Btch"})
_TX_INTO = frozenset(
    {"Refs", "AmtDtls", "AmtDtls/TxAmt", "AmtDtls/InstdAmt", "RtrInf", "RtrInf/Rsn", "RmtInf"}
)


def _walk(el: Any, into: frozenset[str], out: dict[str, str], cut: Any = None) -> None:
    """Texts below ``el`` by path (``Sts/Cd``; the first element of each path; ``""`` when it
    has none; amounts' currency as ``Amt@Ccy``), descending only ``into`` those paths.
    ``TxDtls`` subtrees are collected in ``cut``. Iterative and inlined: it runs per entry."""
    queue, at = [("", el)], 0
    while at < len(queue):  # breadth first: of two same-path elements, the first one wins
        prefix, node = queue[at]
        at += 1
        for child in node:
            tag = child.tag
            if type(tag) is not str:
                continue  # a comment or processing instruction
            name = prefix + tag[tag.rfind("}") + 1 :]
            if name == "NtryDtls/TxDtls" and cut is not None:
                cut.append(child)
                continue
            if name not in out:
                text = child.text
                out[name] = text.strip() if text else ""
                if name[-3:] == "Amt":
                    out[name + "@Ccy"] = child.get("Ccy") or ""
            if name in into:
                queue.append((name + "/", child))


def _first(values: dict[str, str], *paths: str) -> str | None:
    for path in paths:
        value = values.get(path)
        if value:
            return value
    return None


def _money(values: dict[str, str], *paths: str) -> tuple[str | None, str | None]:
    for path in paths:
        value = values.get(path)
        if value:
            return value, values.get(path + "@Ccy") or None
    return None, None


def _entry(el: Any, parsed: ParsedFile) -> Iterator[ConfirmationItem]:
    parsed.counts["entries"] = parsed.counts.get("entries", 0) + 1
    details: list[Any] = []
    f: dict[str, str] = {}
    _walk(el, _ENTRY_INTO, f, details)
    amount_text, currency = _money(f, "Amt")
    entry: dict[str, Any] = {
        "status": _first(f, "Sts/Cd", "Sts", "Sts/Prtry") or "",
        "debit": f.get("CdtDbtInd") == "DBIT",
        "reversal": (f.get("RvslInd") or "").lower() in ("true", "1"),
        "booked": _first(f, "BookgDt/Dt", "BookgDt/DtTm"),
        "bank_ref": _first(f, "AcctSvcrRef") or _first(f, "NtryRef"),
        "note": _first(f, "AddtlNtryInf"),
    }
    if not details:
        batch = _first(f, "NtryDtls/Btch/PmtInfId", "NtryDtls/Btch/MsgId")
        reference = str(batch or entry["bank_ref"] or "")
        yield _entry_item(entry, 0, reference, amount_text, currency, None, parsed, batch)
        return
    for index, tx in enumerate(details):
        t: dict[str, str] = {}
        _walk(tx, _TX_INTO, t)
        tx_amount, tx_ccy = _money(t, "Amt", "AmtDtls/TxAmt/Amt", "AmtDtls/InstdAmt/Amt")
        if len(details) == 1 and amount_text is not None:
            tx_amount, tx_ccy = amount_text, currency  # one transaction: the entry is booked
        reference = _first(t, "Refs/EndToEndId") or ""
        if reference.upper() == "NOTPROVIDED":
            reference = ""
        reference = reference or _first(t, "Refs/InstrId", "Refs/AcctSvcrRef") or ""
        extra = {
            "return": _first(t, "RtrInf/Rsn/Cd", "RtrInf/Rsn/Prtry"),
            "returned": "RtrInf" in t,
            "note": _first(t, "RmtInf/Ustrd", "AddtlTxInf"),
        }
        yield _entry_item(entry, index, reference, tx_amount, tx_ccy or currency, extra, parsed)


def _entry_item(
    entry: dict[str, Any],
    index: int,
    reference: str,
    amount_text: str | None,
    currency: str | None,
    tx: dict[str, Any] | None,
    parsed: ParsedFile,
    batch: str | None = None,
) -> ConfirmationItem:
    tx = tx or {}
    status = entry["status"].upper()
    if status in ("PDNG", "INFO", "FUTR"):
        outcome = "pending" if status == "PDNG" else "unknown"
    elif entry["reversal"] or tx.get("returned"):
        outcome = "returned"
    else:
        outcome = "settled" if entry["debit"] else "credited"
    bank_ref = (
        entry["bank_ref"]
        or hashlib.sha256(
            repr((reference, amount_text, currency, entry["booked"], entry["debit"])).encode()
        ).hexdigest()[:24]
    )
    return ConfirmationItem(
        reference=reference,
        item_key=f"ntry:{bank_ref}:{index}:{reference}:{status}:{outcome}",
        outcome=outcome,
        amount=_item_amount(amount_text, currency, parsed),
        reason_code=tx.get("return"),
        raw_status=f"{status}/{'DBIT' if entry['debit'] else 'CRDT'}"
        + ("/RVSL" if entry["reversal"] else ""),
        occurred_at=_when(entry["booked"]),
        currency=currency,
        scope="batch" if batch else "item",
        amount_text=amount_text,
        note=_note(tx.get("note") or entry["note"], parsed),
    )


def rejected_file(exc: MessageRejected) -> dict[str, Any]:
    """A refusal as the CLI prints it."""
    return {"rejected": True, **exc.as_dict()}
