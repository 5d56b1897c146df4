"""In-memory bank: answers like a G2P Connect disburse service, with confirmations to fetch.

Accounts not registered with ``open_account`` do not exist (AC01). Closed accounts reject with
AC04, blocked ones with AC06. Every submitted item is confirmed once, in a message per batch.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from adapters.payments import codecs
from adapters.payments.port import (
    AccountCheck,
    Batch,
    BatchStatus,
    ConfirmationItem,
    InboundMessage,
    ItemStatus,
    SubmitResult,
)


def encode_items(batch: str, items: Sequence[ConfirmationItem]) -> bytes:
    """A fake message's body: every item in full, so a stored message can be decoded again."""
    rows = [
        {
            k: (v.isoformat() if isinstance(v, dt.datetime) else v)
            for k, v in dataclasses.asdict(i).items()
        }
        for i in items
    ]
    return json.dumps({"batch": batch, "items": rows}, sort_keys=True).encode()


def decode_items(source: str, message_id: str, kind: str, body: bytes) -> InboundMessage:
    data = json.loads(body)
    items = []
    for row in data.get("items", []):
        row = dict(row)
        if row.get("occurred_at"):
            row["occurred_at"] = dt.datetime.fromisoformat(row["occurred_at"])
        items.append(ConfirmationItem(**row))
    return InboundMessage(source, message_id, kind, body, tuple(items))


class _FakeCommon:
    name: str
    _items: dict[str, ItemStatus]

    def status_message(self, references: Sequence[str]) -> InboundMessage:
        statuses = self.status(references)  # type: ignore[attr-defined]
        items = [
            ConfirmationItem(
                reference=s.reference,
                item_key=f"{s.reference}:{s.status}",
                outcome={"succ": "settled", "rjct": "rejected"}.get(s.status, "pending"),
                amount=s.amount,
                reason_code=s.reason_code,
                raw_status=s.status,
            )
            for s in statuses
            if s.reason_code != "rjct.reference_id.invalid"
        ]
        body = encode_items("status", items)
        digest = hashlib.sha256(body).hexdigest()[:24]
        return InboundMessage(self.name, f"status:{digest}", "txn-status", body, tuple(items))

    def batch_status(self, batch_reference: str, references: Sequence[str]) -> BatchStatus:
        items = self.status(references)  # type: ignore[attr-defined]
        done = sum(1 for i in items if i.status in ("succ", "rjct"))
        return BatchStatus(batch_reference, len(items), done, tuple(items))

    def decode(self, kind: str, body: bytes, *, verify: bool = True) -> InboundMessage:
        if kind in codecs.ISO_KINDS or kind == "iso20022":
            return codecs.decode_iso(f"iso20022:{self.name}"[:32], body, verify=verify)
        data: Any = json.loads(body)
        digest = hashlib.sha256(body).hexdigest()[:24]
        return decode_items(self.name, data.get("message_id") or f"{kind}:{digest}", kind, body)


_REJECT = {"closed": "AC04", "blocked": "AC06"}


class FakeBank(_FakeCommon):
    name = "fake-bank"
    channel = "bank"

    def __init__(self) -> None:
        self._accounts: dict[tuple[str, str], tuple[str, str]] = {}
        self._items: dict[str, ItemStatus] = {}
        self._pending: list[InboundMessage] = []
        self.submitted: list[Batch] = []

    def open_account(self, bin_code: str, number: str, holder: str, status: str = "active") -> None:
        self._accounts[(bin_code, number)] = (holder, status)

    def submit(self, batch: Batch) -> SubmitResult:
        self.submitted.append(batch)
        confirmations = []
        for item in batch.items:
            if item.reference in self._items:  # idempotent: a resend changes nothing
                continue
            code, reason = self._execute(
                item.payee_bin or "", item.payee_account or "", item.amount
            )
            status = ItemStatus(item.reference, code, reason, amount=item.amount)
            self._items[item.reference] = status
            confirmations.append(
                ConfirmationItem(
                    reference=item.reference,
                    item_key=f"{batch.reference}:{item.reference}",
                    outcome="settled" if status.status == "succ" else "rejected",
                    amount=item.amount,
                    reason_code=status.reason_code,
                    raw_status=status.status,
                )
            )
        if confirmations:
            body = encode_items(batch.reference, confirmations)
            self._pending.append(
                InboundMessage(
                    self.name,
                    f"on-disburse:{batch.reference}",
                    "on-disburse",
                    body,
                    tuple(confirmations),
                )
            )
        return SubmitResult("ACK", f"corr-{batch.reference}")

    def _execute(self, bin_code: str, number: str, amount: int) -> tuple[str, str | None]:
        account = self._accounts.get((bin_code, number))
        if account is None:
            return "rjct", "AC01"
        if account[1] in _REJECT:
            return "rjct", _REJECT[account[1]]
        return ("succ", None) if amount > 0 else ("rjct", "AM12")

    def status(self, references: Sequence[str]) -> list[ItemStatus]:
        return [
            self._items.get(r, ItemStatus(r, "rjct", "rjct.reference_id.invalid"))
            for r in references
        ]

    def check_account(self, bin_code: str, account: str) -> AccountCheck:
        found = self._accounts.get((bin_code, account))
        if found is None:
            return AccountCheck(False, None, "unknown", "AC01")
        return AccountCheck(True, found[0], found[1], _REJECT.get(found[1]))

    def cancel(self, references: Sequence[str]) -> list[ItemStatus]:
        return [ItemStatus(r, "rjct", "rjct.already_executed") for r in references]

    def fetch_confirmations(self) -> list[InboundMessage]:
        pending, self._pending = self._pending, []
        return pending


class FakePostOffice(_FakeCommon):
    """In-memory post office: pays cash at the payout point and returns a per-person file.

    ``absent`` references are reported unpaid (nobody came); ``wrong_id`` references are paid to
    someone whose ID, as recorded at the counter, differs from the beneficiary's.
    """

    name = "fake-postoffice"
    channel = "postoffice"

    def __init__(self) -> None:
        self.absent: set[str] = set()
        self.wrong_id: dict[str, str] = {}
        self._pending: list[InboundMessage] = []
        self._items: dict[str, ItemStatus] = {}
        self.submitted: list[Batch] = []

    def submit(self, batch: Batch) -> SubmitResult:
        self.submitted.append(batch)
        rows = []
        for item in batch.items:
            if item.reference in self._items:
                continue
            paid = item.reference not in self.absent
            self._items[item.reference] = ItemStatus(item.reference, "succ" if paid else "pdng")
            rows.append(
                ConfirmationItem(
                    reference=item.reference,
                    item_key=f"return:{batch.reference}:{item.reference}",
                    outcome="settled" if paid else "unpaid",
                    amount=item.amount if paid else None,
                    raw_status="paid" if paid else "unpaid",
                    counter_pid=self.wrong_id.get(item.reference, item.payee_pid) if paid else None,
                    evidence_ref=f"sig-{item.reference}" if paid else None,
                )
            )
        if rows:
            body = encode_items(batch.reference, rows)
            self._pending.append(
                InboundMessage(
                    self.name, f"return:{batch.reference}", "return-file", body, tuple(rows)
                )
            )
        return SubmitResult("ACK", f"po-{batch.reference}")

    def status(self, references: Sequence[str]) -> list[ItemStatus]:
        return [
            self._items.get(r, ItemStatus(r, "rjct", "rjct.reference_id.invalid"))
            for r in references
        ]

    def check_account(self, bin_code: str, account: str) -> AccountCheck:
        return AccountCheck(False, None, "unknown", "NARR")

    def cancel(self, references: Sequence[str]) -> list[ItemStatus]:
        return [ItemStatus(r, "rjct", "rjct.already_executed") for r in references]

    def fetch_confirmations(self) -> list[InboundMessage]:
        pending, self._pending = self._pending, []
        return pending
