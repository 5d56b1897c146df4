"""Mismatch cases officers work through: list, read, assign and resolve.

A case belongs to the officers whose scope contains its admin unit (a case without a unit — an
unknown reference — to national officers); outside that scope it does not exist (404). An
explicit assignee may be set within that scope. Resolving takes an action the case type allows
(``gateway.domain.case_actions``) and a reason; the change it makes, the ``case_action`` row,
the case's closing and the audit event are written in one transaction, so a case is resolved
once and only with its effect. Reconciliation must not reopen what stays resolved: see
``not_suppressed`` / ``suppressed_findings``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import aliased

from gateway.db.tables import (
    admin_unit,
    app_user,
    case_action,
    mismatch_case,
    person,
    programme,
)
from gateway.domain.case_actions import FACT_KEY_PREFIX, FACT_TYPES, CaseAction, applicable
from gateway.domain.states import (
    CASE_WORKERS,
    READERS,
    EnrollmentState,
    InstructionState,
    MismatchType,
)
from gateway.errors import (
    FieldProblem,
    Forbidden,
    InvalidState,
    NotFound,
    ValidationFailed,
    problem,
)
from gateway.security.principal import Actor
from gateway.services import audit, disburse, units
from gateway.services.case_resolutions import CANCEL_AT_CHANNEL, HANDLERS, Ctx
from gateway.services.context import Services
from gateway.services.workspace import (
    aware,
    casequeue,
    encode_cursor,
    mask_name,
)

IS, E, A = InstructionState, EnrollmentState, CaseAction
STATUSES = ("open", "resolved", "closed")
CASE_SOURCE = "case"  # inbox/confirmation source of officers' manual confirmations
SETTLEABLE = (IS.CREATED, IS.SENT, IS.ACCEPTED, IS.UNKNOWN)
PURPOSE = "resolve reconciliation case"


# -- who may see and act ---------------------------------------------------------------------


def _require_reader(actor: Actor) -> None:
    if not actor.is_system and actor.role not in READERS:
        raise Forbidden(
            "your role may not read cases",
            "vai trò của bạn không được xem vụ việc",
            code="role.forbidden",
        )


def _require_worker(actor: Actor) -> None:
    if not actor.is_system and actor.role not in CASE_WORKERS:
        raise Forbidden(
            "only commune, district, province or ministry officers resolve cases",
            "chỉ cán bộ xã, huyện, tỉnh hoặc bộ được xử lý vụ việc",
            code="role.cannot_resolve",
        )


def visible(conn: Connection, actor: Actor, unit_id: int | None) -> bool:
    """A case is visible and actionable only to actors whose scope contains its unit."""
    if unit_id is None:
        return actor.is_national or actor.is_system
    return units.in_scope(conn, actor, unit_id)


def _not_found(case_id: int) -> NotFound:
    return NotFound(f"no case {case_id}", f"không có vụ việc {case_id}", code="case.not_found")


def _load(conn: Connection, actor: Actor, case_id: int, *, lock: bool = False) -> Any:
    query = select(mismatch_case).where(mismatch_case.c.id == case_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None or not visible(conn, actor, row.unit_id):
        raise _not_found(case_id)
    return row


# -- listing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseFilter:
    type: str | None = None
    unit_id: int | None = None  # the unit and everything below it
    programme: str | None = None  # programme code
    status: str | None = "open"  # None: every status
    min_age_days: int | None = None
    max_age_days: int | None = None
    assignee: str | None = None  # a username, or "none" for unassigned


@dataclass
class CasePage:
    rows: list[dict[str, Any]]
    next_cursor: str | None


def list_cases(
    conn: Connection,
    actor: Actor,
    filters: CaseFilter,
    *,
    now: dt.datetime,
    after: str | None = None,
    limit: int = 50,
) -> CasePage:
    """One page of cases in the actor's scope, oldest first, keyset-paged on (opened_at, id).
    Names are masked; personal IDs never appear."""
    _require_reader(actor)
    c = mismatch_case.c
    if filters.unit_id is not None and not units.in_scope(conn, actor, filters.unit_id):
        raise units_outside("unit")
    where = casequeue.case_conditions(
        conn,
        actor,
        now=now,
        status=filters.status,
        type=filters.type,
        unit_id=filters.unit_id,
        min_age_days=filters.min_age_days,
        max_age_days=filters.max_age_days,
    )
    if filters.programme:
        where.append(
            c.programme_id.in_(select(programme.c.id).where(programme.c.code == filters.programme))
        )
    if filters.assignee == "none":
        where.append(c.assignee_id.is_(None))
    elif filters.assignee:
        where.append(
            c.assignee_id.in_(select(app_user.c.id).where(app_user.c.username == filters.assignee))
        )
    where += casequeue.keyset_after(after)
    # the page from mismatch_case alone (its queue index gives the order); names after, by id
    rows = conn.execute(
        select(
            c.id,
            c.type,
            c.status,
            c.unit_id,
            c.programme_id,
            c.person_id,
            c.assignee_id,
            c.period,
            c.evidence,
            c.opened_at,
            c.closed_at,
            c.resolution,
            c.enrollment_id,
            c.instruction_id,
        )
        .where(*where)
        .order_by(c.opened_at, c.id)
        .limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    unit_of = _by_id(
        conn,
        admin_unit,
        (admin_unit.c.scheme, admin_unit.c.code, admin_unit.c.name),
        {r.unit_id for r in rows},
    )
    code_of = _by_id(conn, programme, (programme.c.code,), {r.programme_id for r in rows})
    name_of = _by_id(conn, person, (person.c.full_name,), {r.person_id for r in rows})
    user_of = _by_id(conn, app_user, (app_user.c.username,), {r.assignee_id for r in rows})
    out = []
    for r in rows:
        opened = aware(r.opened_at) or now
        unit = unit_of.get(r.unit_id)
        name = name_of.get(r.person_id)
        out.append(
            {
                "id": r.id,
                "type": r.type,
                "status": r.status,
                "unit": f"{unit.scheme}:{unit.code}" if unit else None,
                "unit_name": unit.name if unit else None,
                "programme": code_of[r.programme_id].code if r.programme_id in code_of else None,
                "period": r.period,
                "person": mask_name(name.full_name) if name else None,
                "amount": (r.evidence or {}).get("amount"),
                "enrollment_id": r.enrollment_id,
                "instruction_id": r.instruction_id,
                "assignee": user_of[r.assignee_id].username if r.assignee_id in user_of else None,
                "opened_at": opened,
                "age_days": max(0, (now - opened).days),
                "resolution": r.resolution,
                "closed_at": aware(r.closed_at),
            }
        )
    nxt = encode_cursor(rows[-1].opened_at, rows[-1].id) if more and rows else None
    return CasePage(out, nxt)


def _by_id(conn: Connection, table: Any, columns: tuple[Any, ...], ids: set[Any]) -> dict[Any, Any]:
    """Rows of ``table`` by id for the ids of one page (one query per table, at most 50 ids)."""
    ids.discard(None)
    if not ids:
        return {}
    return {r.id: r for r in conn.execute(select(table.c.id, *columns).where(table.c.id.in_(ids)))}


def units_outside(field: str) -> ValidationFailed:
    return problem(
        field,
        "scope.outside",
        "this admin unit is outside your scope",
        "đơn vị hành chính này ngoài phạm vi quản lý của bạn",
    )


# -- one case --------------------------------------------------------------------------------


def get_case(svc: Services, actor: Actor, case_id: int) -> dict[str, Any]:
    """The case with its evidence side by side and its action history (names masked)."""
    _require_reader(actor)
    with svc.db.read() as conn:
        view = casequeue.get_case_view(conn, svc.vault, actor, case_id)
        assignee = None
        if view.case.assignee_id is not None:
            assignee = conn.execute(
                select(app_user.c.username).where(app_user.c.id == view.case.assignee_id)
            ).scalar()
    c = view.case
    listed = dict(view.listed) if view.listed else None
    if listed:
        listed["full_name"] = mask_name(listed["full_name"])
    return {
        "id": c.id,
        "type": c.type,
        "status": c.status,
        "dedup_key": c.dedup_key,
        "unit_name": view.unit_name,
        "programme": view.programme.code if view.programme is not None else None,
        "period": c.period,
        "enrollment_id": c.enrollment_id,
        "instruction_id": c.instruction_id,
        "assignee": assignee,
        "opened_at": aware(c.opened_at),
        "closed_at": aware(c.closed_at),
        "resolution": c.resolution,
        "resolution_reason": c.resolution_reason,
        "evidence": dict(c.evidence or {}),
        "actions_allowed": [str(a) for a in applicable(c.type)] if c.status == "open" else [],
        "listed": listed,
        "registry": _registry(view.registry),
        "instructions": [_instruction(i) for i in view.instructions],
        "ticks_elsewhere": [
            {
                "programme": t.programme_code,
                "unit": t.unit_name,
                "period": t.period,
                "source": t.source,
                "state": t.state,
            }
            for t in view.ticks
        ],
        "history": [
            {
                "at": aware(a.created_at),
                "actor": a.actor,
                "action": a.action,
                "reason": a.reason,
                "evidence": dict(a.evidence or {}),
            }
            for a in view.actions
        ],
    }


def _registry(r: Any) -> dict[str, Any] | None:
    if r is None:
        return None
    return {
        "outcome": r.outcome,
        "vital_status": r.vital_status,
        "fields": r.fields,
        "source": r.source,
        "checked_at": aware(r.checked_at),
    }


def _instruction(item: dict[str, Any]) -> dict[str, Any]:
    i = item["instruction"]
    return {
        "id": i.id,
        "reference": i.reference,
        "attempt": i.attempt,
        "replaces_id": i.replaces_id,
        "state": i.state,
        "amount": i.amount,
        "channel": i.channel,
        "reason_code": i.reason_code,
        "confirmations": [
            {
                "source": cf.source,
                "outcome": cf.outcome,
                "amount": cf.amount,
                "reason_code": cf.reason_code,
                "evidence_ref": cf.evidence_ref,
                "apply_result": cf.apply_result,
            }
            for cf in item["confirmations"]
        ],
    }


# -- assignment ------------------------------------------------------------------------------


def assign(
    svc: Services, actor: Actor, case_id: int, assignee: str | None, *, reason: str = ""
) -> str | None:
    """Give an open case to one officer of its scope (None: back to the whole scope)."""
    _require_worker(actor)
    now = svc.clock()
    with svc.db.begin() as conn:
        row = _load(conn, actor, case_id, lock=True)
        if row.status != "open":
            raise _already(row)
        user_id = None
        if assignee:
            from gateway.services import accounts

            user_id = conn.execute(
                select(app_user.c.id).where(
                    app_user.c.username == assignee, app_user.c.active.is_(True)
                )
            ).scalar()
            target = accounts.actor_for_user(conn, user_id) if user_id is not None else None
            if (
                target is None
                or target.role not in CASE_WORKERS
                or not visible(conn, target, row.unit_id)
            ):
                raise problem(
                    "assignee",
                    "case.assignee_outside",
                    f"{assignee} is not an officer whose scope contains this case",
                    f"{assignee} không phải cán bộ có phạm vi quản lý chứa vụ việc này",
                )
        conn.execute(
            update(mismatch_case)
            .where(mismatch_case.c.id == case_id)
            .values(assignee_id=user_id, updated_at=now)
        )
        why = reason.strip() or (f"assigned to {assignee}" if assignee else "unassigned")
        _history(conn, actor, case_id, "assign", why, {"assignee": assignee}, now)
        audit.record(
            conn,
            actor,
            "case.assign",
            "mismatch_case",
            case_id,
            purpose=PURPOSE,
            detail={"assignee": assignee},
            at=now,
        )
    return assignee


# -- resolving -------------------------------------------------------------------------------


@dataclass
class Resolution:
    case_id: int
    action: str
    status: str = "resolved"
    detail: dict[str, Any] = field(default_factory=dict)


def resolve(
    svc: Services,
    actor: Actor,
    case_id: int,
    action: str,
    reason: str,
    evidence_ref: str | None = None,
    *,
    merge_into: int | None = None,
) -> Resolution:
    """Resolve an open case with one action and a reason (see the module docstring)."""
    _require_worker(actor)
    reason = (reason or "").strip()
    evidence_ref = (evidence_ref or "").strip() or None
    with svc.db.read() as conn:  # scope first: outside it the case does not exist
        seen = _load(conn, actor, case_id)
    if seen.status != "open":
        raise _already(seen)
    _validate(seen.type, action, reason, evidence_ref, merge_into)
    now = svc.clock()
    remote: list[str] = []
    with svc.db.begin() as conn:
        row = _load(conn, actor, case_id, lock=True)
        if row.status != "open":
            raise _already(row)
        ctx = Ctx(svc, conn, actor, row, reason, evidence_ref, merge_into, now)
        detail = HANDLERS[CaseAction(action)](ctx)
        remote = detail.pop(CANCEL_AT_CHANNEL, [])
        closed = conn.execute(
            update(mismatch_case)
            .where(mismatch_case.c.id == case_id, mismatch_case.c.status == "open")
            .values(
                status="resolved",
                resolution=action,
                resolution_reason=reason,
                closed_at=now,
                updated_at=now,
            )
        ).rowcount
        if closed != 1:  # resolved by someone else between our read and this write
            raise _already(row)
        evidence = {"evidence_ref": evidence_ref, **detail}
        _history(conn, actor, case_id, action, reason, evidence, now)
        audit.record(
            conn,
            actor,
            f"case.{action}",
            "mismatch_case",
            case_id,
            purpose=PURPOSE,
            detail={"type": row.type, "reason": reason[:200], **evidence},
            at=now,
        )
    result = Resolution(case_id, action, detail=detail)
    if remote:  # sent to the channel: cancelled there, after our commit (as payments do)
        result.detail["channel_cancel"] = disburse.cancel(
            svc, actor, remote, reason=f"case {case_id}: {reason}"[:500]
        )
    return result


def _validate(
    case_type: str,
    action: str,
    reason: str,
    evidence_ref: str | None,
    merge_into: int | None,
) -> None:
    """Every problem of the input at once, each naming its field."""
    problems: list[FieldProblem] = []
    allowed = applicable(case_type)
    if action not in {a.value for a in CaseAction}:
        problems.append(
            FieldProblem(
                "action",
                "case.action_unknown",
                f"{action!r} is not a case action ({', '.join(a.value for a in CaseAction)})",
                f"{action!r} không phải hành động xử lý vụ việc",
            )
        )
    elif action not in allowed:
        names = ", ".join(allowed)
        problems.append(
            FieldProblem(
                "action",
                "case.action_not_applicable",
                f"{action} does not apply to a {case_type} case (allowed: {names})",
                f"hành động {action} không áp dụng cho vụ việc loại {case_type} "
                f"(được phép: {names})",
            )
        )
        action = ""  # its own requirements do not matter
    if not reason:
        problems.append(
            FieldProblem("reason", "reason.required", "a reason is required", "phải ghi lý do")
        )
    elif len(reason) > 2000:
        problems.append(
            FieldProblem(
                "reason", "reason.too_long", "at most 2000 characters", "tối đa 2000 ký tự"
            )
        )
    if action == A.CONFIRM_PAID and not evidence_ref:
        problems.append(
            FieldProblem(
                "evidence_ref",
                "evidence.required",
                "confirming a payment needs a reference to its evidence (statement, receipt)",
                "xác nhận đã chi cần mã tài liệu minh chứng (sao kê, biên nhận)",
            )
        )
    if evidence_ref and len(evidence_ref) > 120:
        problems.append(
            FieldProblem(
                "evidence_ref", "evidence.too_long", "at most 120 characters", "tối đa 120 ký tự"
            )
        )
    if action == A.MERGE_PERSONS and not merge_into:
        problems.append(
            FieldProblem(
                "merge_into",
                "merge_into.required",
                "merging needs the id of the person who remains",
                "gộp hồ sơ cần mã của người được giữ lại",
            )
        )
    if problems:
        raise ValidationFailed(problems)


def _already(row: Any) -> InvalidState:
    return InvalidState(
        f"case {row.id} is already {row.status} ({row.resolution})",
        f"vụ việc {row.id} đã được xử lý ({row.resolution})",
        code="case.already_resolved",
    )


def _history(
    conn: Connection,
    actor: Actor,
    case_id: int,
    action: str,
    reason: str,
    evidence: dict[str, Any],
    now: dt.datetime,
) -> None:
    conn.execute(
        insert(case_action).values(
            case_id=case_id,
            action=action,
            actor=actor.label(),
            reason=reason,
            evidence=evidence,
            created_at=now,
        )
    )


# -- what reconciliation must not reopen -----------------------------------------------------


def suppressed_condition() -> Any:
    """SQL: the resolved cases whose finding stays resolved (``case_actions.stays_resolved``):
    every false positive, and any officer's resolution of a finding read from a stored
    confirmation (those facts never disappear)."""
    return _on(mismatch_case)


def suppressed_on(alias: Any) -> Any:
    """``suppressed_condition`` on an alias of mismatch_case (reconciliation's NOT EXISTS)."""
    return _on(alias)


def not_suppressed(type_expr: Any, dedup_key_expr: Any) -> Any:
    """A WHERE clause for set-based reconciliation: keep a finding only when no resolved case
    of the same (type, dedup_key) stays resolved. ``NOT EXISTS`` on
    ``uq_mismatch_case_open``'s columns (type, dedup_key)."""
    found = aliased(mismatch_case)
    return ~exists().where(
        found.c.type == type_expr,
        found.c.dedup_key == dedup_key_expr,
        _on(found),
    )


def _on(alias: Any) -> Any:
    c = alias.c
    return and_(
        c.status == "resolved",
        or_(
            c.resolution == A.FALSE_POSITIVE,
            and_(
                c.resolution.in_([a.value for a in CaseAction]),
                or_(
                    c.type.in_([str(t) for t in FACT_TYPES]),
                    # substr, not LIKE: the clause is also spelled into reconciliation's raw
                    # SQL, where a % would be doubled for the driver
                    func.substr(c.dedup_key, 1, len(FACT_KEY_PREFIX)) == FACT_KEY_PREFIX,
                ),
            ),
        ),
    )


def suppressed_findings(conn: Connection) -> set[tuple[str, str]]:
    """(type, dedup_key) pairs a run must not open again (for a run that plans in Python)."""
    return {
        (t, k)
        for t, k in conn.execute(
            select(mismatch_case.c.type, mismatch_case.c.dedup_key).where(suppressed_condition())
        )
    }


__all__ = [
    "CaseFilter",
    "CasePage",
    "MismatchType",
    "Resolution",
    "assign",
    "get_case",
    "list_cases",
    "not_suppressed",
    "resolve",
    "suppressed_findings",
    "suppressed_on",
    "visible",
]
