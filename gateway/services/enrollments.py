"""The enrollment workflow: every transition checked, with actor and reason, within scope.

Commune accounts propose; district and province accounts approve within their scope; an
enrollment with an open flag is approved only with a recorded override reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select, update

from gateway.db.tables import enrollment, enrollment_transition, flag
from gateway.domain.states import APPROVERS, EnrollmentState, Role, check_enrollment_transition
from gateway.errors import Forbidden, InvalidState, NotFound, problem
from gateway.security.principal import Actor
from gateway.services import audit, units
from gateway.services.context import Services


def transition(
    conn: Connection,
    enrollment_id: int,
    target: str,
    *,
    actor: Actor,
    reason: str,
    now: dt.datetime,
    expect: str | None = None,
) -> str:
    """Move one enrollment; returns the state it left. Guarded by the current state in SQL."""
    if not reason.strip():
        raise problem("reason", "reason.required", "a reason is required", "phải ghi lý do")
    row = conn.execute(
        select(enrollment.c.state, enrollment.c.unit_id).where(enrollment.c.id == enrollment_id)
    ).first()
    if row is None:
        raise NotFound(f"no enrollment {enrollment_id}", f"không có hồ sơ {enrollment_id}")
    if expect is not None and row.state != expect:
        raise InvalidState(
            f"enrollment {enrollment_id} is {row.state}, not {expect}",
            f"hồ sơ {enrollment_id} đang ở trạng thái {row.state}, không phải {expect}",
            code="enrollment.state_changed",
        )
    check_enrollment_transition(row.state, target)
    changed = conn.execute(
        update(enrollment)
        .where(enrollment.c.id == enrollment_id, enrollment.c.state == row.state)
        .values(state=target, updated_at=now)
    ).rowcount
    if changed != 1:
        raise InvalidState(
            "the enrollment changed meanwhile; reload and retry",
            "hồ sơ vừa được thay đổi; hãy tải lại và thử lại",
            code="enrollment.concurrent_change",
        )
    conn.execute(
        insert(enrollment_transition).values(
            enrollment_id=enrollment_id,
            from_state=row.state,
            to_state=target,
            actor=actor.label(),
            reason=reason,
            at=now,
        )
    )
    return str(row.state)


def bulk_transition(
    conn: Connection,
    ids: Sequence[int],
    source: str,
    target: str,
    *,
    actor: Actor,
    reason: str,
    now: dt.datetime,
) -> int:
    """Set-based move of many enrollments that are all in ``source`` (system steps)."""
    check_enrollment_transition(source, target)
    moved = 0
    for start in range(0, len(ids), 900):
        chunk = list(ids[start : start + 900])
        moved += conn.execute(
            update(enrollment)
            .where(enrollment.c.id.in_(chunk), enrollment.c.state == source)
            .values(state=target, updated_at=now)
        ).rowcount
        conn.execute(
            insert(enrollment_transition),
            [
                {
                    "enrollment_id": i,
                    "from_state": source,
                    "to_state": target,
                    "actor": actor.label(),
                    "reason": reason,
                    "at": now,
                }
                for i in chunk
            ],
        )
    return moved


@dataclass(frozen=True)
class ApprovalResult:
    approved: list[int]
    blocked: dict[int, list[str]]  # enrollment id -> open flag kinds (no override given)


def approve(
    svc: Services,
    actor: Actor,
    enrollment_ids: Sequence[int],
    *,
    reason: str,
    override_reason: str | None = None,
) -> ApprovalResult:
    """Approve verified enrollments in the actor's scope; flags need a recorded override."""
    if not actor.is_system and actor.role not in APPROVERS:
        raise Forbidden(
            "only district, province or ministry officers approve",
            "chỉ cán bộ cấp huyện, tỉnh hoặc bộ được phê duyệt",
            code="role.cannot_approve",
        )
    now = svc.clock()
    approved: list[int] = []
    blocked: dict[int, list[str]] = {}
    with svc.db.begin() as conn:
        for eid in enrollment_ids:
            unit_id = conn.execute(
                select(enrollment.c.unit_id).where(enrollment.c.id == eid)
            ).scalar()
            if unit_id is None:
                raise NotFound(f"no enrollment {eid}", f"không có hồ sơ {eid}")
            units.require_scope(conn, actor, unit_id)
            open_flags = list(
                conn.execute(
                    select(flag.c.kind).where(flag.c.enrollment_id == eid, flag.c.status == "open")
                ).scalars()
            )
            if open_flags and not (override_reason and override_reason.strip()):
                blocked[eid] = sorted(set(open_flags))
                continue
            if open_flags:
                conn.execute(
                    update(flag)
                    .where(flag.c.enrollment_id == eid, flag.c.status == "open")
                    .values(
                        status="overridden",
                        closed_at=now,
                        closed_by=actor.label(),
                        reason=override_reason,
                    )
                )
            transition(
                conn,
                eid,
                EnrollmentState.APPROVED,
                actor=actor,
                reason=reason if not open_flags else f"{reason}; override: {override_reason}",
                now=now,
                expect=EnrollmentState.VERIFIED,
            )
            approved.append(eid)
        if approved:
            audit.record(
                conn,
                actor,
                "enrollment.approve",
                "enrollment",
                approved[0] if len(approved) == 1 else None,
                purpose="approve beneficiaries",
                detail={
                    "count": len(approved),
                    "ids": approved[:50],
                    "override": bool(override_reason),
                    "reason": reason,
                },
            )
    return ApprovalResult(approved, blocked)


# who may move an enrollment where (besides approve, above): the system moves proposed →
# verified after a registry match and approved → paid on settlement
_OFFICER_MOVES: dict[str, tuple[frozenset[Role], frozenset[str]]] = {
    EnrollmentState.REJECTED: (APPROVERS, frozenset({"proposed", "verified"})),
    EnrollmentState.CANCELLED: (
        frozenset({Role.COMMUNE, *APPROVERS}),
        frozenset({"proposed", "verified", "approved", "suspended"}),
    ),
    EnrollmentState.SUSPENDED: (APPROVERS, frozenset({"proposed", "verified", "approved"})),
    EnrollmentState.PROPOSED: (  # re-proposed after a rejection, or resumed
        frozenset({Role.COMMUNE, Role.DISTRICT, Role.PROVINCE}),
        frozenset({"rejected", "suspended"}),
    ),
    EnrollmentState.VERIFIED: (APPROVERS, frozenset({"suspended"})),
}


def move(svc: Services, actor: Actor, enrollment_id: int, target: str, *, reason: str) -> str:
    """An officer's transition (reject, cancel, suspend, re-propose, resume), within scope,
    with a reason; returns the state left. Approval goes through ``approve`` (flags). An
    enrollment outside the officer's scope reads as absent (404), as everywhere else."""
    _visible(svc, actor, enrollment_id)
    if target == EnrollmentState.APPROVED:
        result = approve(svc, actor, [enrollment_id], reason=reason)
        if result.blocked:
            raise InvalidState(
                f"enrollment {enrollment_id} has open flags: "
                + ", ".join(result.blocked[enrollment_id]),
                "hồ sơ còn cảnh báo chưa xử lý; cần ghi lý do bỏ qua (override_reason)",
                code="enrollment.flags_open",
            )
        return EnrollmentState.VERIFIED
    rule = _OFFICER_MOVES.get(target)
    if rule is None:
        raise InvalidState(
            f"officers cannot move an enrollment to {target}",
            f"cán bộ không thể chuyển hồ sơ sang trạng thái {target}",
            code="enrollment.invalid_transition",
        )
    roles, sources = rule
    if not actor.is_system and actor.role not in roles:
        raise Forbidden(
            f"your role may not move an enrollment to {target}",
            f"vai trò của bạn không được chuyển hồ sơ sang trạng thái {target}",
            code="role.forbidden",
        )
    now = svc.clock()
    with svc.db.begin() as conn:
        row = conn.execute(
            select(enrollment.c.state, enrollment.c.unit_id).where(enrollment.c.id == enrollment_id)
        ).first()
        if row is None:
            raise NotFound(f"no enrollment {enrollment_id}", f"không có hồ sơ {enrollment_id}")
        units.require_scope(conn, actor, row.unit_id)
        if row.state not in sources:
            check_enrollment_transition(row.state, target)  # names the impossible move
            raise InvalidState(
                f"an officer cannot move an enrollment from {row.state} to {target}",
                f"cán bộ không thể chuyển hồ sơ từ {row.state} sang {target}",
                code="enrollment.invalid_transition",
            )
        left = transition(
            conn, enrollment_id, target, actor=actor, reason=reason, now=now, expect=row.state
        )
        audit.record(
            conn,
            actor,
            f"enrollment.{target}",
            "enrollment",
            enrollment_id,
            purpose="enrollment workflow",
            detail={"from": left, "to": target, "reason": reason[:200]},
        )
    return left


def _visible(svc: Services, actor: Actor, enrollment_id: int) -> None:
    with svc.db.read() as conn:
        unit_id = conn.execute(
            select(enrollment.c.unit_id).where(enrollment.c.id == enrollment_id)
        ).scalar()
        if unit_id is None or not units.in_scope(conn, actor, unit_id):
            raise NotFound(f"no enrollment {enrollment_id}", f"không có hồ sơ {enrollment_id}")


def history(conn: Connection, enrollment_id: int) -> list[dict[str, object]]:
    rows = conn.execute(
        select(enrollment_transition)
        .where(enrollment_transition.c.enrollment_id == enrollment_id)
        .order_by(enrollment_transition.c.id)
    ).all()
    return [
        {"from": r.from_state, "to": r.to_state, "actor": r.actor, "reason": r.reason, "at": r.at}
        for r in rows
    ]


def can_propose(actor: Actor) -> bool:
    return actor.is_system or actor.role in (Role.COMMUNE, Role.DISTRICT, Role.PROVINCE)


def counts_by_state(
    conn: Connection, actor: Actor, programme_id: int | None = None
) -> dict[str, int]:
    query = (
        select(enrollment.c.state, func.count())
        .where(units.scope_filter(actor, enrollment.c.unit_id))
        .group_by(enrollment.c.state)
    )
    if programme_id is not None:
        query = query.where(enrollment.c.programme_id == programme_id)
    return {state: int(n) for state, n in conn.execute(query)}
