"""pain.001 credit-transfer initiation, versions 001.001.03 and 001.001.09, from a ``Batch``.

One ``PmtInf`` per batch; our instruction reference is the ``EndToEndId`` (it comes back in
pain.002 and camt.05x), the batch's wire id is both ``MsgId`` and ``PmtInfId``. Vietnamese
accounts have no IBAN, so accounts are ``Othr/Id`` and banks are identified by their 6-digit BIN
in ``FinInstnId/Othr/Id``. Names go out in the upper-case ASCII form banks keep. Amounts are
integer VND. The output is valid against the pinned official XSDs (tests check it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from lxml import etree

from adapters.payments.port import Batch, PaymentItem, batch_message_id
from gateway.domain.names import bank_form

VERSIONS = ("pain.001.001.03", "pain.001.001.09")


@dataclass(frozen=True)
class Debtor:
    name: str
    account: str
    bin: str


class _Builder:
    def __init__(self, version: str) -> None:
        if version not in VERSIONS:
            raise ValueError(f"unsupported pain.001 version {version}")
        self.v9 = version.endswith(".09")
        self.ns = f"urn:iso:std:iso:20022:tech:xsd:{version}"

    def el(self, parent: Any, tag: str, text: str | None = None, **attrs: str) -> Any:
        node = etree.SubElement(parent, f"{{{self.ns}}}{tag}", attrs)
        if text is not None:
            node.text = text
        return node

    def path(self, parent: Any, path: str, text: str) -> Any:
        node = parent
        for tag in path.split("/"):
            node = self.el(node, tag)
        node.text = text
        return node

    def agent(self, parent: Any, tag: str, bin_code: str) -> None:
        self.path(self.el(parent, tag), "FinInstnId/Othr/Id", bin_code)

    def account(self, parent: Any, tag: str, number: str) -> None:
        self.path(self.el(parent, tag), "Id/Othr/Id", number)


def pain001(
    batch: Batch,
    *,
    debtor: Debtor,
    created: dt.datetime,
    execution_date: dt.date,
    version: str = "pain.001.001.09",
) -> bytes:
    b = _Builder(version)
    root = etree.Element(f"{{{b.ns}}}Document", nsmap={None: b.ns})
    initiation = b.el(root, "CstmrCdtTrfInitn")
    msg_id = batch_message_id(batch.reference)
    header = b.el(initiation, "GrpHdr")
    b.el(header, "MsgId", msg_id)
    b.el(header, "CreDtTm", created.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    b.el(header, "NbOfTxs", str(len(batch.items)))
    b.el(header, "CtrlSum", str(batch.total))
    b.path(header, "InitgPty/Nm", bank_form(debtor.name)[:140])
    info = b.el(initiation, "PmtInf")
    b.el(info, "PmtInfId", msg_id)
    b.el(info, "PmtMtd", "TRF")
    b.el(info, "BtchBookg", "false")  # one statement entry per beneficiary: per-item evidence
    b.el(info, "NbOfTxs", str(len(batch.items)))
    b.el(info, "CtrlSum", str(batch.total))
    if b.v9:
        b.path(info, "ReqdExctnDt/Dt", execution_date.isoformat())
    else:
        b.el(info, "ReqdExctnDt", execution_date.isoformat())
    b.path(info, "Dbtr/Nm", bank_form(debtor.name)[:140])
    b.account(info, "DbtrAcct", debtor.account)
    b.agent(info, "DbtrAgt", debtor.bin)
    b.el(info, "ChrgBr", "SLEV" if b.v9 else "DEBT")
    for item in batch.items:
        _transaction(b, info, item)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _transaction(b: _Builder, parent: Any, item: PaymentItem) -> None:
    if not (item.payee_account and item.payee_bin):
        raise ValueError(f"{item.reference} has no bank account: not a bank-channel item")
    tx = b.el(parent, "CdtTrfTxInf")
    ids = b.el(tx, "PmtId")
    b.el(ids, "InstrId", item.reference)
    b.el(ids, "EndToEndId", item.reference)
    b.el(b.el(tx, "Amt"), "InstdAmt", str(item.amount), Ccy="VND")
    b.agent(tx, "CdtrAgt", item.payee_bin)
    b.el(b.el(tx, "Cdtr"), "Nm", bank_form(item.payee_name)[:140])
    b.account(tx, "CdtrAcct", item.payee_account)
    if item.note:
        b.el(b.el(tx, "RmtInf"), "Ustrd", bank_form(item.note)[:140])
