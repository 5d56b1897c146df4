"""camt.052 / camt.053 / camt.054 entries into confirmations, streamed: each ``Ntry`` is read
by one targeted walk of the children that matter (a path search per field was the reader's hot
spot), turned into items, then dropped from memory.

A debit booked → settled; a reversal (``RvslInd``) or a return (``RtrInf``) → returned with its
reason; ``PDNG`` → pending; ``INFO``/``FUTR`` → unknown; other credits → credited. An entry
without transaction details but with a batch id is a batch-level item.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from adapters.payments.iso20022 import xmlsafe
from adapters.payments.iso20022.fields import ParsedFile, Q, item_amount, note, release, when
from adapters.payments.port import ConfirmationItem


def statement(source: bytes | Path, q: Q, parsed: ParsedFile) -> Iterator[ConfirmationItem]:
    with xmlsafe.opened(source) as fh:
        for _event, el in xmlsafe.iterparse(fh, events=("end",), tag=q("Ntry")):
            yield from _entry(el, parsed)
            release(el)


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
        amount=item_amount(amount_text, currency, parsed),
        reason_code=tx.get("return"),
        raw_status=f"{status}/{'DBIT' if entry['debit'] else 'CRDT'}"
        + ("/RVSL" if entry["reversal"] else ""),
        occurred_at=when(entry["booked"]),
        currency=currency,
        scope="batch" if batch else "item",
        amount_text=amount_text,
        note=note(tx.get("note") or entry["note"], parsed),
    )
