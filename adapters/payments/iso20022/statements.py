"""camt.052 / camt.053 / camt.054 entries into confirmations, streamed: each ``Ntry`` is read
by one targeted walk of the children that matter (a path search per field was the reader's hot
spot), turned into items, then dropped from memory.

A debit booked → settled; a reversal (``RvslInd``) or a return (``RtrInf``) → returned with its
reason; ``PDNG`` → pending; ``INFO``/``FUTR`` → unknown; other credits → credited. An entry
without transaction details but with a batch id is a batch-level item.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from adapters.payments.iso20022 import xmlsafe
from adapters.payments.iso20022.fields import ParsedFile, Q, item_amount, note, release, when
from adapters.payments.port import ConfirmationItem


def statement(source: bytes | Path, q: Q, parsed: ParsedFile) -> Iterator[ConfirmationItem]:
    with xmlsafe.opened(source) as fh:
        entry_plan = _plan(q.ns, (*_ENTRY_PATHS, _CUT))
        tx_plan = _plan(q.ns, _TX_PATHS)
        for _event, el in xmlsafe.iterparse(fh, events=("end",), tag=q("Ntry")):
            yield from _entry(el, entry_plan, tx_plan, parsed)
            release(el)


# What an entry's walk reads: only these paths (``Sts/Cd`` …), never the whole subtree (BkTxCd,
# charges …) — the Python objects for elements nobody reads are what made the reader slow.
# ``TxDtls`` is cut out and walked on its own; ``RtrInf`` is read for its presence too.
_ENTRY_PATHS = (
    "Amt",
    "CdtDbtInd",
    "RvslInd",
    "Sts",
    "Sts/Cd",
    "Sts/Prtry",
    "BookgDt/Dt",
    "BookgDt/DtTm",
    "AcctSvcrRef",
    "NtryRef",
    "AddtlNtryInf",
    "NtryDtls/Btch/PmtInfId",
    "NtryDtls/Btch/MsgId",
)
_TX_PATHS = (
    "Amt",
    "AmtDtls/TxAmt/Amt",
    "AmtDtls/InstdAmt/Amt",
    "Refs/EndToEndId",
    "Refs/InstrId",
    "Refs/AcctSvcrRef",
    "RtrInf/Rsn/Cd",
    "RtrInf/Rsn/Prtry",
    "RmtInf/Ustrd",
    "AddtlTxInf",
)
_CUT = "NtryDtls/TxDtls"

# a plan: {qualified tag: (path, plan of its children or None)}; built once per namespace
Plan = dict[str, tuple[str, "Plan | None"]]


@functools.cache
def _plan(ns: str, paths: tuple[str, ...]) -> Plan:
    plan: Plan = {}
    for path in paths:
        level, parts = plan, path.split("/")
        for depth, part in enumerate(parts):
            tag = f"{{{ns}}}{part}" if ns else part
            name, sub = level.get(tag, ("/".join(parts[: depth + 1]), None))
            if depth < len(parts) - 1 and sub is None:
                sub = {}
            level[tag] = (name, sub)
            if sub is None:
                break
            level = sub
    return plan


def _walk(el: Any, plan: Plan, out: dict[str, str], cut: list[Any] | None = None) -> None:
    """Texts below ``el`` by path (``""`` when it has none; amounts' currency as ``Amt@Ccy``),
    descending only where ``plan`` says. Of two same-path elements the first in document order
    wins. ``TxDtls`` subtrees are collected in ``cut``. It runs per entry: kept lean."""
    for child in el:
        spec = plan.get(child.tag)  # a comment's tag is a function: not in any plan
        if spec is None:
            continue
        name, sub = spec
        if name == _CUT:
            if cut is not None:
                cut.append(child)
            continue
        if name not in out:
            text = child.text
            out[name] = text.strip() if text else ""
            if name[-3:] == "Amt":
                out[name + "@Ccy"] = child.get("Ccy") or ""
        if sub is not None:
            _walk(child, sub, out, cut)


def _entry(
    el: Any, entry_plan: Plan, tx_plan: Plan, parsed: ParsedFile
) -> Iterator[ConfirmationItem]:
    # the first non-empty of several paths is ``a or b or None``: inlined, it runs per entry
    parsed.counts["entries"] = parsed.counts.get("entries", 0) + 1
    details: list[Any] = []
    f: dict[str, str] = {}
    _walk(el, entry_plan, f, details)
    amount_text = f.get("Amt") or None
    currency = (f.get("Amt@Ccy") or None) if amount_text else None
    entry: dict[str, Any] = {
        "status": f.get("Sts/Cd") or f.get("Sts") or f.get("Sts/Prtry") or "",
        "debit": f.get("CdtDbtInd") == "DBIT",
        "reversal": (f.get("RvslInd") or "").lower() in ("true", "1"),
        "booked": f.get("BookgDt/Dt") or f.get("BookgDt/DtTm") or None,
        "bank_ref": f.get("AcctSvcrRef") or f.get("NtryRef") or None,
        "note": f.get("AddtlNtryInf") or None,
    }
    if not details:
        batch = f.get("NtryDtls/Btch/PmtInfId") or f.get("NtryDtls/Btch/MsgId") or None
        reference = str(batch or entry["bank_ref"] or "")
        yield _entry_item(entry, 0, reference, amount_text, currency, None, parsed, batch)
        return
    single = len(details) == 1 and amount_text is not None
    for index, tx in enumerate(details):
        t: dict[str, str] = {}
        _walk(tx, tx_plan, t)
        if single:  # one transaction: the entry is booked
            tx_amount, tx_ccy = amount_text, currency
        else:
            tx_amount, tx_ccy = _money(t, "Amt", "AmtDtls/TxAmt/Amt", "AmtDtls/InstdAmt/Amt")
        reference = t.get("Refs/EndToEndId") or ""
        if reference.upper() == "NOTPROVIDED":
            reference = ""
        reference = reference or t.get("Refs/InstrId") or t.get("Refs/AcctSvcrRef") or ""
        extra = {
            "return": t.get("RtrInf/Rsn/Cd") or t.get("RtrInf/Rsn/Prtry") or None,
            "returned": "RtrInf" in t,
            "note": t.get("RmtInf/Ustrd") or t.get("AddtlTxInf") or None,
        }
        yield _entry_item(entry, index, reference, tx_amount, tx_ccy or currency, extra, parsed)


def _money(values: dict[str, str], *paths: str) -> tuple[str | None, str | None]:
    for path in paths:
        value = values.get(path)
        if value:
            return value, values.get(path + "@Ccy") or None
    return None, None


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
