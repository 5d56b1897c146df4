"""Account-name inquiry before the first payout to an account (DOMAIN.md §3).

The bank answers the holder's name in upper-case ASCII; it is compared with the beneficiary's
without diacritics (Đ→D), never with the words reordered. A holder name that is not the
beneficiary's holds the instruction (``BE01``) and flags the enrollment for a person to decide;
a closed, blocked or unknown account rejects it before anything is sent (``AC04``, ``AC06``,
``AC01``). Accounts checked before keep their verdict: only ``unverified`` ones are asked about,
each once, and the bank is asked before the write transaction opens — no lock is held while
waiting for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select, update

from adapters.payments.port import PaymentChannel
from gateway.db.dialect import insert_ignore
from gateway.db.tables import (
    enrollment,
    flag,
    payee_account,
    payment_batch,
    payment_instruction,
    person,
)
from gateway.domain.names import compare, is_acceptable
from gateway.domain.states import FlagKind, InstructionState
from gateway.security.vault import Purpose
from gateway.services.context import Services

IS = InstructionState
REASONS = {"closed": "AC04", "blocked": "AC06", "not_found": "AC01", "mismatch": "BE01"}
Verdict = tuple[str, str | None, str | None]  # status, holder name, reason code


def check_accounts(svc: Services, batch_reference: str) -> int:
    """Check the accounts of a batch's *created* instructions; returns how many were stopped."""
    rows = _unchecked(svc, batch_reference)
    if not rows:
        return 0
    bank = svc.channel("bank")
    asked: dict[int, Verdict] = {}
    for r in rows:
        if r.status == "unverified" and r.account_id not in asked:
            asked[r.account_id] = _inquire(svc, bank, r)
    now = svc.clock()
    with svc.db.begin() as conn:
        for account_id, (status, holder, _reason) in asked.items():
            row = next(r for r in rows if r.account_id == account_id)
            match = compare(row.full_name, holder) if holder else None
            conn.execute(
                update(payee_account)
                .where(payee_account.c.id == account_id)
                .values(
                    holder_name=holder,
                    name_match=str(match) if match else None,
                    status=status,
                    checked_at=now,
                )
            )
        return _stop(conn, rows, asked, now)


def _unchecked(svc: Services, batch_reference: str) -> Sequence[Any]:
    with svc.db.read() as conn:
        return conn.execute(
            select(
                payment_instruction.c.id,
                payee_account.c.id.label("account_id"),
                payee_account.c.bin,
                payee_account.c.number_enc,
                payee_account.c.status,
                payee_account.c.holder_name,
                person.c.full_name,
                enrollment.c.id.label("enrollment_id"),
            )
            .join(payment_batch, payment_batch.c.id == payment_instruction.c.batch_id)
            .join(payee_account, payee_account.c.id == payment_instruction.c.payee_account_id)
            .join(enrollment, enrollment.c.id == payment_instruction.c.enrollment_id)
            .join(person, person.c.id == enrollment.c.person_id)
            .where(
                payment_batch.c.reference == batch_reference,
                payment_instruction.c.state == IS.CREATED,
                payee_account.c.status != "verified",
            )
        ).all()


def _stop(
    conn: Connection, rows: Sequence[Any], asked: dict[int, Verdict], now: dt.datetime
) -> int:
    stopped = 0
    for r in rows:
        status, holder, reason = asked.get(
            r.account_id, (r.status, r.holder_name, REASONS.get(r.status))
        )
        if status == "mismatch":  # a person decides: hold, and flag the enrollment
            stopped += _set_state(conn, r.id, IS.HELD, "BE01", now)
            conn.execute(
                insert_ignore(conn, flag).values(
                    enrollment_id=r.enrollment_id,
                    kind=FlagKind.ACCOUNT_NAME_MISMATCH,
                    detail_key="",
                    detail={"bank_name": holder},
                    status="open",
                    created_at=now,
                )
            )
        elif status != "verified":  # closed, blocked, unknown: sending would only bounce
            stopped += _set_state(conn, r.id, IS.REJECTED, reason or "AC01", now)
    return stopped


def _inquire(svc: Services, bank: PaymentChannel, row: Any) -> Verdict:
    answer = bank.check_account(row.bin, svc.vault.decrypt(row.number_enc, Purpose.ACCOUNT))
    if not answer.found:
        return "not_found", None, answer.reason_code or "AC01"
    if answer.status != "active":
        return answer.status, answer.holder_name, answer.reason_code or REASONS.get(answer.status)
    match = compare(row.full_name, answer.holder_name) if answer.holder_name else None
    if match is not None and is_acceptable(match):
        return "verified", answer.holder_name, None
    return "mismatch", answer.holder_name, "BE01"


def _set_state(
    conn: Connection, instruction_id: int, state: str, reason: str, now: dt.datetime
) -> int:
    return conn.execute(
        update(payment_instruction)
        .where(
            payment_instruction.c.id == instruction_id, payment_instruction.c.state == IS.CREATED
        )
        .values(state=state, reason_code=reason, state_changed_at=now)
    ).rowcount
