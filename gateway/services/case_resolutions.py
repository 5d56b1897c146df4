"""What each resolution of a mismatch case does to the data, inside the caller's transaction.

``gateway.services.cases.resolve`` checks role, scope, input and applicability, locks the case,
runs one of ``HANDLERS`` and then closes the case, writes ``case_action`` and the audit event —
all in the same transaction, so an action either happens with its record or not at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from adapters.payments.port import ConfirmationItem
from gateway.db.tables import (
    enrollment,
    inbox_message,
    payment_batch,
    payment_instruction,
    person,
    programme,
    tick,
)
from gateway.domain.case_actions import CaseAction
from gateway.domain.states import EnrollmentState, InstructionState
from gateway.errors import Conflict, InvalidState, problem
from gateway.security.principal import Actor
from gateway.services import disburse, enrollments, units
from gateway.services.confirm import seal_body
from gateway.services.confirm_items import Work, apply_items
from gateway.services.context import Services

IS, E, A = InstructionState, EnrollmentState, CaseAction
CASE_SOURCE = "case"  # inbox/confirmation source of officers' manual confirmations
SETTLEABLE = (IS.CREATED, IS.SENT, IS.ACCEPTED, IS.UNKNOWN)
CANCEL_AT_CHANNEL = "_cancel_at_channel"  # detail key: references to cancel after commit


@dataclass(frozen=True)
class Ctx:
    """What one resolution works with: its transaction, the locked case row, the inputs."""

    svc: Services
    conn: Connection
    actor: Actor
    case: Any
    reason: str
    evidence_ref: str | None
    merge_into: int | None
    now: dt.datetime


def _case_instruction(ctx: Ctx) -> Any:
    """The case's own instruction, else the latest attempt of its enrollment."""
    i = payment_instruction.c
    if ctx.case.instruction_id is not None:
        query = select(payment_instruction).where(i.id == ctx.case.instruction_id)
    elif ctx.case.enrollment_id is not None:
        query = (
            select(payment_instruction)
            .where(i.enrollment_id == ctx.case.enrollment_id)
            .order_by(i.attempt.desc())
            .limit(1)
        )
    else:
        return None
    return ctx.conn.execute(query.with_for_update()).first()


def _no_instruction(ctx: Ctx) -> InvalidState:
    return InvalidState(
        f"case {ctx.case.id} names no payment instruction",
        f"vụ việc {ctx.case.id} không gắn với lệnh chi nào",
        code="case.no_instruction",
    )


def _confirm_paid(ctx: Ctx) -> dict[str, Any]:
    """A manual confirmation (source ``case``), applied through the same path as a bank's:
    the instruction settles, the entitlement becomes paid, the person is ticked. Settling
    something already settled records nothing (never a second settlement)."""
    instr = _case_instruction(ctx)
    if instr is None:
        raise _no_instruction(ctx)
    if instr.state == IS.SETTLED:
        return {
            "instruction_id": instr.id,
            "reference": instr.reference,
            "result": "already_settled",
        }
    if instr.state not in SETTLEABLE:
        raise InvalidState(
            f"payment {instr.reference} is {instr.state}; only a created, sent, accepted or "
            "unknown payment can be confirmed as paid",
            f"lệnh chi {instr.reference} đang ở trạng thái {instr.state}; chỉ xác nhận đã chi "
            "cho lệnh chi chưa có kết quả",
            code="case.instruction_not_settleable",
        )
    body = json.dumps(
        {
            "case_id": ctx.case.id,
            "reference": instr.reference,
            "evidence_ref": ctx.evidence_ref,
            "actor": ctx.actor.label(),
            "reason": ctx.reason,
        },
        sort_keys=True,
        ensure_ascii=False,
    ).encode()
    message_id = f"case:{ctx.case.id}"
    inbox_id = ctx.conn.execute(
        insert(inbox_message)
        .values(
            source=CASE_SOURCE,
            message_id=message_id,
            content_hash=hashlib.sha256(body).hexdigest(),
            kind="manual-confirmation",
            body_enc=seal_body(ctx.svc, body),
            headers={"actor": ctx.actor.label()},
            status="applied",
            response={},
            attempts=1,
            received_at=ctx.now,
            applied_at=ctx.now,
        )
        .returning(inbox_message.c.id)
    ).scalar_one()
    item = ConfirmationItem(
        reference=instr.reference,
        item_key=message_id,
        outcome="settled",
        amount=int(instr.amount),
        raw_status="manual-confirmation",
        evidence_ref=ctx.evidence_ref,
        occurred_at=ctx.now,
        officer=ctx.actor.username,
    )
    summary = apply_items(
        ctx.svc, ctx.conn, [Work(int(inbox_id), CASE_SOURCE, item)], ctx.actor, ctx.now
    )
    result = next(iter(summary.results), "duplicate_item")
    if result != "settled":
        raise InvalidState(
            f"the confirmation was not applied ({result})",
            f"xác nhận không được áp dụng ({result})",
            code="case.confirmation_not_applied",
        )
    return {"instruction_id": instr.id, "reference": instr.reference, "result": result}


def _reissue(ctx: Ctx) -> dict[str, Any]:
    """A new instruction (attempt + 1, its own idempotency key and reference) linked to the
    one it replaces, in a one-item batch of its own ready for ``payments send``. The partial
    unique index ``uq_payment_instruction_live`` refuses it while another payment for the
    entitlement is live or settled."""
    conn, case = ctx.conn, ctx.case
    old = _case_instruction(ctx)
    enrollment_id = case.enrollment_id or (old.enrollment_id if old is not None else None)
    if enrollment_id is None:
        raise _no_instruction(ctx)
    if old is not None and old.state == IS.HELD:  # never left: cancelled here, then replaced
        conn.execute(
            update(payment_instruction)
            .where(payment_instruction.c.id == old.id, payment_instruction.c.state == IS.HELD)
            .values(
                state=IS.CANCELLED,
                reason_text=f"re-issued by case {case.id}",
                state_changed_at=ctx.now,
            )
        )
    elif old is not None and old.state not in (IS.REJECTED, IS.RETURNED, IS.CANCELLED):
        raise InvalidState(
            f"payment {old.reference} is {old.state}: only a rejected, returned or cancelled "
            "payment is re-issued (an unknown outcome is queried, never re-sent)",
            f"lệnh chi {old.reference} đang ở trạng thái {old.state}: chỉ chi lại khoản bị từ "
            "chối, bị trả lại hoặc đã hủy (khoản chưa rõ kết quả phải tra soát, không gửi lại)",
            code="case.instruction_live",
        )
    e = conn.execute(
        select(enrollment, programme.c.code.label("programme_code"))
        .join(programme, programme.c.id == enrollment.c.programme_id)
        .where(enrollment.c.id == enrollment_id)
        .with_for_update(of=enrollment)
    ).one()
    if e.state != E.APPROVED:
        raise InvalidState(
            f"the entitlement is {e.state}; only an approved, unpaid entitlement is paid",
            f"quyền hưởng đang ở trạng thái {e.state}; chỉ chi cho quyền hưởng đã duyệt, chưa chi",
            code="case.enrollment_not_payable",
        )
    attempt = 1 + int(
        conn.execute(
            select(func.coalesce(func.max(payment_instruction.c.attempt), 0)).where(
                payment_instruction.c.enrollment_id == enrollment_id
            )
        ).scalar_one()
    )
    key = disburse.idempotency_key(e.programme_code, e.period, e.person_id, attempt)
    reference = disburse.wire_reference(key)
    try:
        with conn.begin_nested():  # the refusal is a clear problem, not a broken transaction
            batch_id = conn.execute(
                insert(payment_batch)
                .values(
                    reference=f"{e.programme_code}-{e.period}-{e.channel}-case{case.id}"[:64],
                    channel=e.channel,
                    programme_id=e.programme_id,
                    period=e.period,
                    state="created",
                    total_count=1,
                    total_amount=e.amount,
                    actor=ctx.actor.label(),
                    created_at=ctx.now,
                )
                .returning(payment_batch.c.id)
            ).scalar_one()
            new_id = conn.execute(
                insert(payment_instruction)
                .values(
                    enrollment_id=enrollment_id,
                    batch_id=batch_id,
                    attempt=attempt,
                    replaces_id=old.id if old is not None else None,
                    idempotency_key=key,
                    reference=reference,
                    channel=e.channel,
                    payee_account_id=e.payee_account_id,
                    payout_unit_id=e.unit_id,
                    amount=e.amount,
                    state=IS.CREATED,
                    created_at=ctx.now,
                    state_changed_at=ctx.now,
                )
                .returning(payment_instruction.c.id)
            ).scalar_one()
    except IntegrityError as exc:
        live = "uq_payment_instruction_live" in str(exc.orig) or "enrollment_id" in str(exc.orig)
        raise Conflict(
            "another payment for this entitlement is already live or settled; it must fail or "
            "be cancelled before a re-issue"
            if live
            else "this payment attempt was already issued",
            "quyền hưởng này đang có một lệnh chi khác chưa kết thúc hoặc đã chi; phải chờ nó "
            "thất bại hoặc hủy trước khi chi lại"
            if live
            else "lần chi này đã được tạo",
            code="payment.live_instruction_exists" if live else "payment.attempt_exists",
        ) from exc
    batch_ref = conn.execute(
        select(payment_batch.c.reference).where(payment_batch.c.id == batch_id)
    ).scalar_one()
    return {
        "instruction_id": int(new_id),
        "reference": reference,
        "attempt": attempt,
        "replaces_id": old.id if old is not None else None,
        "batch": batch_ref,
    }


def _cancel_entitlement(ctx: Ctx) -> dict[str, Any]:
    """The entitlement → cancelled (the enrollment workflow's transition, with the reason);
    unsent payments are cancelled here, sent ones at the channel after commit, and one whose
    outcome is unknown is left to the status query (it may already be paid)."""
    enrollment_id = ctx.case.enrollment_id
    if enrollment_id is None:
        instr = _case_instruction(ctx)
        enrollment_id = instr.enrollment_id if instr is not None else None
    if enrollment_id is None:
        raise InvalidState(
            f"case {ctx.case.id} names no entitlement",
            f"vụ việc {ctx.case.id} không gắn với quyền hưởng nào",
            code="case.no_enrollment",
        )
    left = enrollments.transition(
        ctx.conn,
        enrollment_id,
        E.CANCELLED,
        actor=ctx.actor,
        reason=f"case {ctx.case.id}: {ctx.reason}"[:2000],
        now=ctx.now,
    )
    pending = ctx.conn.execute(
        select(
            payment_instruction.c.id, payment_instruction.c.reference, payment_instruction.c.state
        )
        .where(
            payment_instruction.c.enrollment_id == enrollment_id,
            payment_instruction.c.state.in_(
                (IS.CREATED, IS.HELD, IS.SENT, IS.ACCEPTED, IS.UNKNOWN)
            ),
        )
        .with_for_update()
    ).all()
    local = [p for p in pending if p.state in (IS.CREATED, IS.HELD)]
    for p in local:
        ctx.conn.execute(
            update(payment_instruction)
            .where(payment_instruction.c.id == p.id, payment_instruction.c.state == p.state)
            .values(
                state=IS.CANCELLED,
                reason_text=f"entitlement cancelled by case {ctx.case.id}",
                state_changed_at=ctx.now,
            )
        )
    return {
        "enrollment_id": enrollment_id,
        "from_state": left,
        "cancelled_payments": [p.reference for p in local],
        "unknown_payments": [p.reference for p in pending if p.state == IS.UNKNOWN],
        CANCEL_AT_CHANNEL: [p.reference for p in pending if p.state in (IS.SENT, IS.ACCEPTED)],
    }


def _false_positive(ctx: Ctx) -> dict[str, Any]:
    """Nothing changes but the case; its (type, dedup_key) stays suppressed (``not_suppressed``)."""
    return {"suppresses": [ctx.case.type, ctx.case.dedup_key]}


def _merge_persons(ctx: Ctx) -> dict[str, Any]:
    """The case's person is a duplicate of ``merge_into``: the duplicate keeps its row (and its
    IDs, for lookups) with ``merged_into_id`` set; its enrollments and ticks move to the survivor
    where the survivor has none for the same programme and period (exclusion group and period)."""
    conn, dup, survivor = ctx.conn, ctx.case.person_id, ctx.merge_into
    if dup is None:
        raise InvalidState(
            f"case {ctx.case.id} names no person to merge",
            f"vụ việc {ctx.case.id} không gắn với người nào để gộp",
            code="case.no_person",
        )
    unknown = problem(
        "merge_into",
        "person.unknown",
        f"no person {survivor} within your scope",
        f"không có người mã {survivor} trong phạm vi quản lý của bạn",
    )
    rows = {
        r.id: r
        for r in conn.execute(
            select(person.c.id, person.c.merged_into_id, person.c.residence_unit_id)
            .where(person.c.id.in_((dup, survivor)))
            .with_for_update()
        )
    }
    if survivor not in rows or not _person_in_scope(conn, ctx.actor, rows[survivor]):
        raise unknown
    if survivor == dup:
        raise problem(
            "merge_into",
            "merge_into.same",
            "a person cannot be merged into themself",
            "không thể gộp một người vào chính họ",
        )
    if rows[survivor].merged_into_id is not None:
        raise problem(
            "merge_into",
            "merge_into.merged",
            f"person {survivor} was merged into {rows[survivor].merged_into_id}; merge into that",
            f"người {survivor} đã được gộp vào {rows[survivor].merged_into_id}; hãy gộp vào đó",
        )
    if rows[dup].merged_into_id is not None:
        raise InvalidState(
            f"person {dup} is already merged into {rows[dup].merged_into_id}",
            f"người {dup} đã được gộp vào {rows[dup].merged_into_id}",
            code="person.already_merged",
        )
    other = aliased(enrollment)
    clash = exists().where(
        other.c.person_id == survivor,
        other.c.programme_id == enrollment.c.programme_id,
        other.c.period == enrollment.c.period,
    )
    movable = list(
        conn.execute(select(enrollment.c.id).where(enrollment.c.person_id == dup, ~clash)).scalars()
    )
    kept = list(
        conn.execute(select(enrollment.c.id).where(enrollment.c.person_id == dup, clash)).scalars()
    )
    if movable:
        conn.execute(
            update(enrollment)
            .where(enrollment.c.id.in_(movable))
            .values(person_id=survivor, updated_at=ctx.now)
        )
    t2 = aliased(tick)
    tick_clash = exists().where(
        t2.c.person_id == survivor,
        t2.c.state == "active",
        t2.c.exclusion_group == tick.c.exclusion_group,
        t2.c.period == tick.c.period,
    )
    ticks_moved = conn.execute(
        update(tick)
        .where(tick.c.person_id == dup, or_(tick.c.state != "active", ~tick_clash))
        .values(person_id=survivor)
    ).rowcount
    conn.execute(
        update(person)
        .where(person.c.id == dup, person.c.merged_into_id.is_(None))
        .values(merged_into_id=survivor, updated_at=ctx.now)
    )
    return {
        "duplicate_person_id": dup,
        "surviving_person_id": survivor,
        "enrollments_moved": movable,
        "enrollments_kept": kept,
        "ticks_moved": int(ticks_moved or 0),
    }


def _person_in_scope(conn: Connection, actor: Actor, row: Any) -> bool:
    """A person is within scope through an enrollment or their residence in it."""
    if actor.is_system or actor.is_national:
        return True
    if row.residence_unit_id is not None and units.in_scope(conn, actor, row.residence_unit_id):
        return True
    return (
        conn.execute(
            select(enrollment.c.id)
            .where(
                enrollment.c.person_id == row.id,
                units.scope_filter(actor, enrollment.c.unit_id),
            )
            .limit(1)
        ).first()
        is not None
    )


HANDLERS = {
    A.CONFIRM_PAID: _confirm_paid,
    A.REISSUE_PAYMENT: _reissue,
    A.CANCEL_ENTITLEMENT: _cancel_entitlement,
    A.FALSE_POSITIVE: _false_positive,
    A.MERGE_PERSONS: _merge_persons,
}
