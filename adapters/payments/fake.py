"""In-memory bank: answers like a G2P Connect disburse service, with confirmations to fetch.

Accounts not registered with ``open_account`` do not exist (AC01). Closed accounts reject with
AC04, blocked ones with AC06. Every submitted item is confirmed once, in a message per batch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from adapters.payments.port import (
    AccountCheck,
    Batch,
    ConfirmationItem,
    InboundMessage,
    ItemStatus,
    SubmitResult,
)

_REJECT = {"closed": "AC04", "blocked": "AC06"}


class FakeBank:
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
            body = json.dumps(
                {"batch": batch.reference, "items": [c.reference for c in confirmations]}
            ).encode()
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


class FakePostOffice:
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
            body = json.dumps({"batch": batch.reference, "rows": len(rows)}).encode()
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
