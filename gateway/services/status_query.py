"""Asking the channel instead of waiting (G2P ``txn/status``): the recovery path for lost
callbacks and unknown outcomes. The answer is stored in the inbox and applied like a callback;
nothing is ever resent.

* ``query_unknown`` — instructions whose outcome is unknown (a timeout after submitting) and
  sent ones whose callback is overdue;
* ``query_returns`` — payments settled within the return window: a return the bank reported
  by a callback that never arrived would otherwise leave a person unpaid while the ledger says
  paid (banks that also send camt.053 statements report returns there too).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, or_, select

from adapters.payments.port import InboundMessage
from gateway.db.tables import payment_instruction
from gateway.domain.states import InstructionState
from gateway.errors import GatewayError
from gateway.services import confirm
from gateway.services.context import Services

IS = InstructionState
RESOLVED = ("settled", "rejected", "accepted", "returned")


@dataclass
class QuerySummary:
    queried: int = 0
    resolved: int = 0
    still_unknown: int = 0
    results: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)


def query_unknown(
    svc: Services,
    *,
    limit: int = 5000,
    chunk: int = 100,
    channel: str | None = None,
    everything_open: bool = False,
) -> QuerySummary:
    """Resolve ``unknown`` instructions (and sent ones whose callback never came) by asking the
    channel. An item the channel does not know stays ``unknown`` and becomes an overdue case at
    reconciliation — it is never resent."""
    now = svc.clock()
    after = now - dt.timedelta(seconds=svc.settings.payments.status_query_after_seconds)
    if everything_open:
        due: Any = payment_instruction.c.state.in_((IS.SENT, IS.ACCEPTED, IS.UNKNOWN))
    else:
        due = or_(
            and_(
                payment_instruction.c.state == IS.UNKNOWN,
                payment_instruction.c.state_changed_at <= after,
            ),
            # a callback that never came: sent/accepted past its deadline
            and_(
                payment_instruction.c.state.in_((IS.SENT, IS.ACCEPTED)),
                payment_instruction.c.deadline_at <= now,
            ),
        )
    rows = _rows(svc, due, limit, channel)
    summary = _ask(svc, rows, chunk)
    summary.still_unknown = _count_unknown(svc, [r.id for r in rows])
    return summary


def query_returns(
    svc: Services, *, limit: int = 50_000, chunk: int = 100, channel: str | None = "bank"
) -> QuerySummary:
    """Ask again about payments settled within ``ANSINH_PAYMENTS_RETURN_WINDOW_DAYS``."""
    days = svc.settings.payments.return_window_days
    since = svc.clock() - dt.timedelta(days=days)
    due = and_(payment_instruction.c.state == IS.SETTLED, payment_instruction.c.settled_at >= since)
    return _ask(svc, _rows(svc, due, limit, channel) if days > 0 else [], chunk)


def _rows(svc: Services, due: Any, limit: int, channel: str | None) -> Sequence[Any]:
    query = select(
        payment_instruction.c.id, payment_instruction.c.reference, payment_instruction.c.channel
    ).where(due)
    if channel:
        query = query.where(payment_instruction.c.channel == channel)
    with svc.db.read() as conn:
        return conn.execute(query.order_by(payment_instruction.c.id).limit(limit)).all()


def _ask(svc: Services, rows: Sequence[Any], chunk: int) -> QuerySummary:
    summary = QuerySummary()
    by_channel: dict[str, list[str]] = {}
    for r in rows:
        by_channel.setdefault(r.channel, []).append(r.reference)
    for name, refs in sorted(by_channel.items()):
        port = svc.channel(name)
        for start in range(0, len(refs), chunk):
            part = refs[start : start + chunk]
            summary.queried += len(part)
            try:
                msg = port.status_message(part)
            except GatewayError as exc:  # a file channel reports by file: fetch those instead
                summary.errors[exc.code] = summary.errors.get(exc.code, 0) + len(part)
                if not exc.retryable:
                    confirm.fetch_and_apply(svc, name)
                continue
            _, applied = confirm.receive_and_apply(svc, _tag_channel(msg, name))
            for k, v in applied.results.items():
                summary.results[k] = summary.results.get(k, 0) + v
    summary.resolved = sum(summary.results.get(k, 0) for k in RESOLVED)
    return summary


def _count_unknown(svc: Services, ids: list[int]) -> int:
    with svc.db.read() as conn:
        return sum(
            conn.execute(
                select(func.count()).where(
                    payment_instruction.c.id.in_(ids[s : s + 900]),
                    payment_instruction.c.state == IS.UNKNOWN,
                )
            ).scalar_one()
            for s in range(0, len(ids), 900)
        )


def _tag_channel(msg: InboundMessage, channel: str) -> InboundMessage:
    return InboundMessage(
        msg.source,
        msg.message_id,
        msg.kind,
        msg.body,
        msg.items,
        {**msg.headers, "channel": channel},
        msg.warnings,
    )
