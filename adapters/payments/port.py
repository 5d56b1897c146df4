"""The payment-channel port, in our vocabulary. Amounts are integer VND, never floats."""

from __future__ import annotations

import datetime as dt
import hashlib
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
    currency: str | None = None  # None means VND; any other currency never settles a VND payment
    scope: str = "item"  # item | batch (a batch-level status: reference is the batch's message id)
    amount_text: str | None = None  # the amount exactly as the file wrote it (decimal)
    officer: str | None = None  # post office: paying officer
    note: str | None = None  # narrative (truncated), additional information

    def __repr__(self) -> str:
        return f"ConfirmationItem(reference={self.reference}, outcome={self.outcome})"

    def fingerprint(self) -> str:
        """What makes two reports of the same item *the same*: same key + other fingerprint is a
        modified report (``rjct.reference_id.duplicate``), never a second payment."""
        parts = (
            self.reference,
            self.outcome,
            self.amount_text if self.amount_text is not None else self.amount,
            self.currency or "VND",
            self.reason_code,
            self.counter_pid,
            self.evidence_ref,
        )
        return hashlib.sha256(repr(parts).encode()).hexdigest()


@dataclass(frozen=True)
class InboundMessage:
    """A message from a channel as received: kept whole as evidence before it is applied."""

    source: str  # bank:<id> | iso20022:<bank> | postoffice
    message_id: str
    kind: str  # on-disburse | camt.054 | camt.053 | pain.002 | return-file | txn-status
    body: bytes
    items: tuple[ConfirmationItem, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()  # bank quirks tolerated while reading (never personal data)


@dataclass(frozen=True)
class BatchStatus:
    """G2P Connect progress of one batch: how many items the channel has finished."""

    reference: str
    total_count: int
    completed_count: int
    items: tuple[ItemStatus, ...] = ()


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
        """Cancel items not yet executed (``succ`` = cancelled, ``rjct`` = too late)."""

    def fetch_confirmations(self) -> list[InboundMessage]:
        """Pull-based confirmations (statement files, return files); push channels return []."""

    def batch_status(self, batch_reference: str, references: Sequence[str]) -> BatchStatus:
        """``total_count`` / ``completed_count`` progress of a batch (G2P Connect)."""

    def status_message(self, references: Sequence[str]) -> InboundMessage:
        """The status of items as a message to store in the inbox (``txn/status`` recovery)."""

    def decode(self, kind: str, body: bytes, *, verify: bool = True) -> InboundMessage:
        """Turn a received body (callback, file) into a message. ``verify`` checks signatures
        and time windows; stored messages are decoded again without it when recovered."""


def batch_message_id(batch_reference: str) -> str:
    """The batch's id on the wire (ISO ``MsgId``/``PmtInfId``, G2P ``transaction_id``): the
    reference itself when it fits ``Max35Text``, otherwise a digest of it — derived, so a resend
    carries the same id, and a status report can be matched back to the batch."""
    if len(batch_reference) <= 35 and batch_reference.isascii():
        return batch_reference
    digest = hashlib.sha256(batch_reference.encode()).hexdigest()[:30]
    return f"B{digest.upper()}"
