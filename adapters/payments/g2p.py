"""The G2P Connect disburse wire format (PROTOCOLS.md §b1–b2), shared by our adapter and the
bank simulator: envelopes, amounts as decimal strings, financial addresses, and the per-item
``disbursements_status`` → ``ConfirmationItem`` translation.

Our profile of the spec, written down where it is chosen:

* ``payee_fa`` is ``account:<number>@<bin>.vn-bank`` (no IBAN in Viet Nam; the BIN names the bank).
* ``status_reason_code`` carries the ISO 20022 reason (AC01, AC04, BE01 …) for ``rjct`` items.
* a return after success is a later item with ``status: rjct`` and ``instruction: "return"``.
* each item's confirmation key is ``<reference>:<status>[:return]``: the same report twice is a
  duplicate; the same key with other content is a modified report.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from adapters.payments.errors import MessageRejected, rejected
from adapters.payments.port import ConfirmationItem, InboundMessage, ItemStatus

VERSION = "1.0.0"
OUTCOME = {"succ": "settled", "rjct": "rejected", "pdng": "pending", "rcvd": "pending"}


def amount_text(amount: int) -> str:
    return f"{int(amount)}.00"


def parse_amount(text: Any) -> int | None:
    if text is None:
        return None
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        return None
    return int(value) if value == value.to_integral_value() and value >= 0 else None


def payee_fa(bin_code: str, number: str) -> str:
    return f"account:{number}@{bin_code}.vn-bank"


def parse_fa(fa: str) -> tuple[str, str] | None:
    """``account:<number>@<bin>.vn-bank`` → (bin, number)."""
    if not fa.startswith("account:") or "@" not in fa:
        return None
    number, _, provider = fa[len("account:") :].partition("@")
    return provider.split(".", 1)[0], number


def header(action: str, message_id: str, sender_id: str, *, total: int, **extra: Any) -> dict:
    return {
        "version": VERSION,
        "message_id": message_id,
        "message_ts": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "action": action,
        "sender_id": sender_id,
        "total_count": total,
        **{k: v for k, v in extra.items() if v is not None},
    }


def load_envelope(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise rejected(
            "err.request.bad", "the body is not JSON", "nội dung không phải JSON"
        ) from None
    if not isinstance(value, dict) or not isinstance(value.get("header"), dict):
        raise rejected(
            "err.request.bad",
            "the body is not a {signature, header, message} envelope",
            "nội dung không phải phong bì {signature, header, message}",
        )
    return value


def statuses_of(message: Any) -> list[dict[str, Any]]:
    """``disbursements_status`` of an on-disburse message or of a txn/status answer."""
    if not isinstance(message, dict):
        raise _bad("message")
    if "txnstatus_response" in message:
        message = (message.get("txnstatus_response") or {}).get("txn_status") or {}
    items = message.get("disbursements_status")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise _bad("disbursements_status")
    return items


def _bad(field: str) -> MessageRejected:
    return rejected(
        "err.request.bad",
        f"{field} is missing or malformed",
        f"trường {field} bị thiếu hoặc sai định dạng",
        field=field,
    )


def confirmation(item: dict[str, Any], *, status_query: bool = False) -> ConfirmationItem:
    reference = str(item.get("reference_id") or "")
    status = str(item.get("status") or "")
    if not reference or status not in OUTCOME:
        raise _bad("disbursements_status.reference_id/status")
    returned = status == "rjct" and item.get("instruction") == "return"
    outcome = "returned" if returned else OUTCOME[status]
    if status_query and item.get("status_reason_code") == "rjct.reference_id.invalid":
        outcome = "unknown"  # "I do not know this reference" is not a rejection: never re-pay
    return ConfirmationItem(
        reference=reference,
        item_key=f"{reference}:{status}" + (":return" if returned else ""),
        outcome=outcome,
        amount=parse_amount(item.get("amount")),
        reason_code=item.get("status_reason_code"),
        raw_status=status,
        occurred_at=_when(item.get("timestamp")),
        currency=item.get("currency_code"),
        amount_text=str(item["amount"]) if item.get("amount") is not None else None,
        note=(item.get("status_reason_message") or None),
    )


def _when(text: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


def to_message(source: str, kind: str, body: bytes, envelope: dict[str, Any]) -> InboundMessage:
    head = envelope["header"]
    message_id = str(head.get("message_id") or "")
    if not message_id:
        raise _bad("header.message_id")
    query = kind == "txn-status"
    items = tuple(confirmation(i, status_query=query) for i in statuses_of(envelope.get("message")))
    return InboundMessage(
        source,
        message_id,
        kind,
        body,
        items,
        headers={
            "sender_id": str(head.get("sender_id", "")),
            "total_count": str(head.get("total_count", "")),
            "completed_count": str(head.get("completed_count", "")),
        },
    )


def item_status(item: dict[str, Any]) -> ItemStatus:
    return ItemStatus(
        str(item.get("reference_id")),
        str(item.get("status")),
        item.get("status_reason_code"),
        item.get("status_reason_message"),
        parse_amount(item.get("amount")),
    )
