"""What a bank sends back, written the way a bank writes it: pain.002.001.10 status reports and
camt.053.001.08 / camt.054.001.08 statements. Used by the bank simulator (file mode) and the
camt benchmark; text templates, so a million entries stream to disk quickly. Valid against the
pinned XSDs (tests check it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO
from xml.sax.saxutils import escape

ISO = "urn:iso:std:iso:20022:tech:xsd:"


@dataclass(frozen=True)
class StatusLine:
    reference: str
    status: str  # ACSC | ACCP | RJCT | PDNG …
    reason: str | None = None


@dataclass(frozen=True)
class Entry:
    bank_ref: str  # AcctSvcrRef: unique per booking at the bank
    reference: str  # our EndToEndId
    amount: int
    booked: dt.date
    debit: bool = True  # our payment leaving the account
    returned_reason: str | None = None  # a return: credit back, with RtrInf
    status: str = "BOOK"
    note: str = ""


def pain002(
    msg_id: str,
    original_msg_id: str,
    lines: Iterable[StatusLine],
    *,
    created: dt.datetime,
    group_status: str | None = None,
    group_reason: str | None = None,
) -> bytes:
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<Document xmlns="{ISO}pain.002.001.10"><CstmrPmtStsRpt>',
        f"<GrpHdr><MsgId>{escape(msg_id)}</MsgId><CreDtTm>{_ts(created)}</CreDtTm></GrpHdr>",
        f"<OrgnlGrpInfAndSts><OrgnlMsgId>{escape(original_msg_id)}</OrgnlMsgId>"
        "<OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId>",
    ]
    if group_status:
        out.append(f"<GrpSts>{group_status}</GrpSts>{_reason(group_reason)}")
    out.append("</OrgnlGrpInfAndSts>")
    lines = list(lines)
    if lines:
        out.append(f"<OrgnlPmtInfAndSts><OrgnlPmtInfId>{escape(original_msg_id)}</OrgnlPmtInfId>")
        for line in lines:
            ref = escape(line.reference)
            out.append(
                f"<TxInfAndSts><OrgnlInstrId>{ref}</OrgnlInstrId>"
                f"<OrgnlEndToEndId>{ref}</OrgnlEndToEndId><TxSts>{line.status}</TxSts>"
                f"{_reason(line.reason)}</TxInfAndSts>"
            )
        out.append("</OrgnlPmtInfAndSts>")
    out.append("</CstmrPmtStsRpt></Document>")
    return "".join(out).encode()


def _reason(code: str | None) -> str:
    return f"<StsRsnInf><Rsn><Cd>{escape(code)}</Cd></Rsn></StsRsnInf>" if code else ""


def _ts(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def entry_xml(e: Entry) -> str:
    credit_back = e.returned_reason is not None
    family = "RRTN" if credit_back else "DMCT"
    ref = escape(e.reference)
    tx = [f"<Refs><EndToEndId>{ref}</EndToEndId></Refs>"]
    tx.append(f'<Amt Ccy="VND">{e.amount}</Amt>')
    tx.append(f"<CdtDbtInd>{'CRDT' if credit_back or not e.debit else 'DBIT'}</CdtDbtInd>")
    if e.note:
        tx.append(f"<RmtInf><Ustrd>{escape(e.note)}</Ustrd></RmtInf>")
    if credit_back:
        tx.append(f"<RtrInf><Rsn><Cd>{escape(e.returned_reason or '')}</Cd></Rsn></RtrInf>")
    indicator = "CRDT" if credit_back or not e.debit else "DBIT"
    return (
        f'<Ntry><Amt Ccy="VND">{e.amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>'
        f"<Sts><Cd>{e.status}</Cd></Sts><BookgDt><Dt>{e.booked.isoformat()}</Dt></BookgDt>"
        f"<AcctSvcrRef>{escape(e.bank_ref)}</AcctSvcrRef>"
        f"<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>{family}</SubFmlyCd>"
        f"</Fmly></Domn></BkTxCd><NtryDtls><TxDtls>{''.join(tx)}</TxDtls></NtryDtls></Ntry>"
    )


def write_camt(
    out: IO[bytes],
    kind: str,
    msg_id: str,
    account: str,
    entries: Iterable[Entry],
    *,
    created: dt.datetime,
    chunk: int = 2000,
) -> int:
    """camt.053.001.08 (``kind="camt.053"``) or camt.054.001.08, streamed; returns the count."""
    statement = kind == "camt.053"
    ns, body, record = (
        ("camt.053.001.08", "BkToCstmrStmt", "Stmt")
        if statement
        else ("camt.054.001.08", "BkToCstmrDbtCdtNtfctn", "Ntfctn")
    )
    out.write(
        (
            f'<?xml version="1.0" encoding="UTF-8"?><Document xmlns="{ISO}{ns}"><{body}>'
            f"<GrpHdr><MsgId>{escape(msg_id)}</MsgId><CreDtTm>{_ts(created)}</CreDtTm></GrpHdr>"
            f"<{record}><Id>{escape(msg_id)}</Id><CreDtTm>{_ts(created)}</CreDtTm>"
            f"<Acct><Id><Othr><Id>{escape(account)}</Id></Othr></Id></Acct>"
        ).encode()
    )
    if statement:
        out.write(_balance(created.date()).encode())
    count = 0
    for block in _chunks(entries, chunk):
        out.write("".join(entry_xml(e) for e in block).encode())
        count += len(block)
    out.write(f"</{record}></{body}></Document>".encode())
    return count


def _balance(day: dt.date) -> str:
    return (
        '<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="VND">0</Amt>'
        f"<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{day.isoformat()}</Dt></Dt></Bal>"
    )


def _chunks(entries: Iterable[Entry], size: int) -> Iterator[list[Entry]]:
    block: list[Entry] = []
    for e in entries:
        block.append(e)
        if len(block) >= size:
            yield block
            block = []
    if block:
        yield block
