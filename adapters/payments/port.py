"""The payment-channel port, in our vocabulary. Amounts are integer VND, never floats."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class PaymentItem:
    reference: str  # our wire reference, derived from the idempotency key
    amount: int
    payee_name: str
    payee_bin: str | None = None  # bank channel
    payee_account: str | None = None
    payout_point: str | None = None  # post office: commune code of the payout point
    payee_pid: str | None = None  # recorded by the post office at the counter
    note: str = ""

    def __repr__(self) -> str:
        return f"PaymentItem(reference={self.reference}, amount={self.amount})"


@dataclass(frozen=True)
class Batch:
    reference: str
    programme: str
    period: str
    items: tuple[PaymentItem, ...]

    @property
    def total(self) -> int:
        return sum(i.amount for i in self.items)


@dataclass(frozen=True)
class ItemStatus:
    reference: str
    status: str  # rcvd | pdng | succ | rjct  (G2P Connect RequestStatus)
    reason_code: str | None = None  # ISO 20022 or rjct.* code
    reason_message: str | None = None
    amount: int | None = None


@dataclass(frozen=True)
class SubmitResult:
    ack: str  # ACK | NACK | ERR
    correlation_id: str | None
    items: tuple[ItemStatus, ...] = ()


@dataclass(frozen=True)
class AccountCheck:
    found: bool
    holder_name: str | None  # as the bank answers: upper-case ASCII
    status: str  # active | closed | blocked | unknown
    reason_code: str | None = None


@dataclass(frozen=True)
class ConfirmationItem:
    """One item a channel reported: a callback entry, a statement line, a return-file row."""

    reference: str
    item_key: str  # unique within the source (duplicated lines share it)
    outcome: str  # settled | rejected | returned | pending | unpaid
    amount: int | None = None
    reason_code: str | None = None
    raw_status: str | None = None
    counter_pid: str | None = None  # post office: ID number recorded at the counter
    evidence_ref: str | None = None
    occurred_at: dt.datetime | None = None

    def __repr__(self) -> str:
        return f"ConfirmationItem(reference={self.reference}, outcome={self.outcome})"


@dataclass(frozen=True)
class InboundMessage:
    """A message from a channel as received: kept whole as evidence before it is applied."""

    source: str  # bank:<id> | iso20022:<bank> | postoffice
    message_id: str
    kind: str  # on-disburse | camt.054 | camt.053 | pain.002 | return-file | txn-status
    body: bytes
    items: tuple[ConfirmationItem, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class PaymentChannel(Protocol):
    name: str
    channel: str  # bank | postoffice

    def submit(self, batch: Batch) -> SubmitResult:
        """Hand a batch to the channel. A timeout raises UpstreamTimeout: outcome unknown."""

    def status(self, references: Sequence[str]) -> list[ItemStatus]:
        """Current status of items by reference (recovery for lost callbacks)."""

    def check_account(self, bin_code: str, account: str) -> AccountCheck:
        """Account-name inquiry before the first payout to an account."""

    def cancel(self, references: Sequence[str]) -> list[ItemStatus]:
        """Cancel items not yet executed."""

    def fetch_confirmations(self) -> list[InboundMessage]:
        """Pull-based confirmations (statement files, return files); push channels return []."""
