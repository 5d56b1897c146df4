"""Enrollments: list within the caller's scope, read one, approve."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from gateway.api.auth import current_actor, require, services
from gateway.api.schemas import (
    ApprovalResultSchema,
    ApproveSchema,
    EnrollmentQuery,
    EnrollmentSchema,
)
from gateway.db.tables import admin_unit, enrollment, flag, person, programme
from gateway.domain.personal_id import mask
from gateway.domain.states import APPROVERS, READERS
from gateway.errors import NotFound
from gateway.security.vault import Purpose
from gateway.services import enrollments, units

blp = Blueprint(
    "enrollments",
    __name__,
    url_prefix="/api/v1/enrollments",
    description="Enrollments (entitlements) and their approval",
)


def _query() -> Any:
    return (
        select(
            enrollment,
            programme.c.code.label("programme"),
            admin_unit.c.scheme,
            admin_unit.c.code.label("unit_code"),
            person.c.full_name,
            person.c.pid_enc,
        )
        .join(programme, programme.c.id == enrollment.c.programme_id)
        .join(admin_unit, admin_unit.c.id == enrollment.c.unit_id)
        .join(person, person.c.id == enrollment.c.person_id)
    )


def _masked_name(name: str) -> str:
    """Family name and initials: ``Nguyễn T. H.``."""
    parts = name.split()
    return " ".join([parts[0], *(p[0] + "." for p in parts[1:])]) if parts else ""


def _out(row: Any, flags: list[dict[str, Any]]) -> dict[str, Any]:
    svc = services()
    pid = svc.vault.decrypt(row.pid_enc, Purpose.PID) if row.pid_enc else ""
    return {
        "id": row.id,
        "programme": row.programme,
        "period": row.period,
        "state": row.state,
        "amount": row.amount,
        "channel": row.channel,
        "unit": f"{row.scheme}:{row.unit_code}",
        "full_name": _masked_name(row.full_name),
        "personal_id": mask(pid) if pid else "",
        "flags": flags,
    }


@blp.route("")
class EnrollmentList(MethodView):
    @require(READERS)
    @blp.arguments(EnrollmentQuery, location="query")
    @blp.response(200, EnrollmentSchema(many=True))
    @blp.doc(security=[{"bearer": []}])
    def get(self, args: dict[str, Any]) -> Any:
        """Enrollments in the caller's scope, keyset-paged by id (``after_id``)."""
        actor = current_actor()
        query = _query().where(
            units.scope_filter(actor, enrollment.c.unit_id),
            enrollment.c.id > args["after_id"],
        )
        for key, column in (
            ("programme", programme.c.code),
            ("period", enrollment.c.period),
            ("state", enrollment.c.state),
        ):
            if args.get(key):
                query = query.where(column == args[key])
        svc = services()
        with svc.db.read() as conn:
            rows = conn.execute(query.order_by(enrollment.c.id).limit(args["limit"])).all()
            flags = _flags(conn, [r.id for r in rows])
        return [_out(r, flags.get(r.id, [])) for r in rows]


@blp.route("/<int:enrollment_id>")
class EnrollmentItem(MethodView):
    @require(READERS)
    @blp.response(200, EnrollmentSchema)
    @blp.doc(security=[{"bearer": []}])
    def get(self, enrollment_id: int) -> Any:
        """One enrollment with its flags (404 also when outside the caller's scope)."""
        actor = current_actor()
        svc = services()
        with svc.db.read() as conn:
            row = conn.execute(_query().where(enrollment.c.id == enrollment_id)).first()
            if row is None or not units.in_scope(conn, actor, row.unit_id):
                raise NotFound(f"no enrollment {enrollment_id}", f"không có hồ sơ {enrollment_id}")
            flags = _flags(conn, [row.id])
        return _out(row, flags.get(row.id, []))


@blp.route("/approve")
class Approve(MethodView):
    @require(APPROVERS)
    @blp.arguments(ApproveSchema)
    @blp.response(200, ApprovalResultSchema)
    @blp.doc(security=[{"bearer": []}])
    def post(self, body: dict[str, Any]) -> Any:
        """Approve verified enrollments; flagged ones need ``override_reason``."""
        result = enrollments.approve(
            services(),
            current_actor(),
            body["ids"],
            reason=body["reason"],
            override_reason=body.get("override_reason"),
        )
        return {
            "approved": result.approved,
            "blocked": {str(k): v for k, v in result.blocked.items()},
        }


def _flags(conn: Any, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    if not ids:
        return out
    for f in conn.execute(select(flag).where(flag.c.enrollment_id.in_(ids))):
        out.setdefault(f.enrollment_id, []).append(
            {"kind": f.kind, "status": f.status, "detail": f.detail}
        )
    return out
