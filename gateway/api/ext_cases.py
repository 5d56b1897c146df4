"""Mismatch cases over HTTP: list with filters, read one, resolve.

* ``GET /api/v1/cases`` — cases in the caller's scope, oldest first, keyset-paged (``after``:
  the ``X-Next-Cursor`` header of the previous page); filters type, unit (scheme + code, the
  unit and the units below it), programme, status, age in days, assignee.
* ``GET /api/v1/cases/<id>`` — the evidence side by side and the action history.
* ``POST /api/v1/cases/<id>/resolve`` — an action the case type allows, with a reason.

A case outside the caller's scope is 404, as everywhere. Names are masked, personal IDs never
shown. Errors use the one error schema (``gateway.api.errors``).
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from gateway.api.auth import current_actor, require, services
from gateway.domain.case_actions import CaseAction
from gateway.domain.states import CASE_WORKERS, READERS, MismatchType
from gateway.services import cases, units

blp = Blueprint(
    "cases",
    __name__,
    url_prefix="/api/v1/cases",
    description="Mismatch cases found by reconciliation, and their resolution",
)


class CaseQuery(Schema):
    type = fields.String(validate=validate.OneOf([m.value for m in MismatchType]))
    unit = fields.String(
        metadata={"description": "admin unit code, optionally scheme-qualified (2025-07:79)"}
    )
    programme = fields.String(metadata={"description": "programme code"})
    status = fields.String(
        load_default="open", validate=validate.OneOf(["open", "resolved", "closed", "all"])
    )
    min_age_days = fields.Integer(validate=validate.Range(min=0))
    max_age_days = fields.Integer(validate=validate.Range(min=0))
    assignee = fields.String(metadata={"description": "username, or 'none'"})
    after = fields.String(metadata={"description": "cursor from X-Next-Cursor"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class CaseRowSchema(Schema):
    id = fields.Integer()
    type = fields.String()
    status = fields.String()
    unit = fields.String(allow_none=True)
    unit_name = fields.String(allow_none=True)
    programme = fields.String(allow_none=True)
    period = fields.String(allow_none=True)
    person = fields.String(allow_none=True, metadata={"description": "masked name"})
    amount = fields.Integer(allow_none=True)
    enrollment_id = fields.Integer(allow_none=True)
    instruction_id = fields.Integer(allow_none=True)
    assignee = fields.String(allow_none=True)
    opened_at = fields.DateTime()
    age_days = fields.Integer()
    resolution = fields.String(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)


class HistorySchema(Schema):
    at = fields.DateTime()
    actor = fields.String()
    action = fields.String()
    reason = fields.String()
    evidence = fields.Dict()


class CaseSchema(Schema):
    id = fields.Integer()
    type = fields.String()
    status = fields.String()
    dedup_key = fields.String()
    unit_name = fields.String()
    programme = fields.String(allow_none=True)
    period = fields.String(allow_none=True)
    enrollment_id = fields.Integer(allow_none=True)
    instruction_id = fields.Integer(allow_none=True)
    assignee = fields.String(allow_none=True)
    opened_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)
    resolution = fields.String(allow_none=True)
    resolution_reason = fields.String(allow_none=True)
    evidence = fields.Dict()
    actions_allowed = fields.List(fields.String())
    listed = fields.Dict(allow_none=True, metadata={"description": "provincial list row, masked"})
    registry = fields.Dict(allow_none=True)
    instructions = fields.List(fields.Dict())
    ticks_elsewhere = fields.List(fields.Dict())
    history = fields.List(fields.Nested(HistorySchema))


class ResolveSchema(Schema):
    action = fields.String(required=True, validate=validate.OneOf([a.value for a in CaseAction]))
    reason = fields.String(required=True, validate=validate.Length(max=2000))
    evidence_ref = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=120)
    )
    merge_into = fields.Integer(
        load_default=None, allow_none=True, metadata={"description": "merge_persons: survivor"}
    )


class ResolutionSchema(Schema):
    case_id = fields.Integer()
    action = fields.String()
    status = fields.String()
    detail = fields.Dict()


def _unit_id(raw: str | None) -> int | None:
    if not raw:
        return None
    scheme, _, code = raw.rpartition(":")
    level = {2: "province", 3: "district", 5: "commune"}.get(len(code), "commune")
    with services().db.read() as conn:
        return units.resolve(
            conn, units.scheme_of(scheme or None), code, level=level, field="unit"
        ).id


@blp.route("")
class CaseList(MethodView):
    @require(READERS)
    @blp.arguments(CaseQuery, location="query")
    @blp.response(
        200,
        CaseRowSchema(many=True),
        headers={
            "X-Next-Cursor": {
                "description": "cursor of the next page (absent on the last page)",
                "schema": {"type": "string"},
            }
        },
    )
    @blp.doc(security=[{"bearer": []}])
    def get(self, args: dict[str, Any]) -> Any:
        """Cases in the caller's scope, oldest first (``X-Next-Cursor`` → ``after``)."""
        svc = services()
        filters = cases.CaseFilter(
            type=args.get("type"),
            unit_id=_unit_id(args.get("unit")),
            programme=args.get("programme"),
            status=None if args["status"] == "all" else args["status"],
            min_age_days=args.get("min_age_days"),
            max_age_days=args.get("max_age_days"),
            assignee=args.get("assignee"),
        )
        with svc.db.read() as conn:
            page = cases.list_cases(
                conn,
                current_actor(),
                filters,
                now=svc.clock(),
                after=args.get("after"),
                limit=args["limit"],
            )
        headers = {"X-Next-Cursor": page.next_cursor} if page.next_cursor else {}
        return page.rows, 200, headers


@blp.route("/<int:case_id>")
class CaseItem(MethodView):
    @require(READERS)
    @blp.response(200, CaseSchema)
    @blp.doc(security=[{"bearer": []}])
    def get(self, case_id: int) -> Any:
        """One case: evidence side by side, payments, registry answer, history (404 outside
        the caller's scope)."""
        return cases.get_case(services(), current_actor(), case_id)


@blp.route("/<int:case_id>/resolve")
class CaseResolve(MethodView):
    @require(CASE_WORKERS)
    @blp.arguments(ResolveSchema)
    @blp.response(200, ResolutionSchema)
    @blp.doc(security=[{"bearer": []}])
    def post(self, body: dict[str, Any], case_id: int) -> Any:
        """Resolve an open case: ``confirm_paid`` (needs ``evidence_ref``), ``reissue_payment``,
        ``cancel_entitlement``, ``false_positive`` or ``merge_persons`` (needs ``merge_into``),
        always with a ``reason``. 409 ``case.already_resolved`` when it was resolved before."""
        done = cases.resolve(
            services(),
            current_actor(),
            case_id,
            body["action"],
            body["reason"],
            body.get("evidence_ref"),
            merge_into=body.get("merge_into"),
        )
        return {
            "case_id": done.case_id,
            "action": done.action,
            "status": done.status,
            "detail": done.detail,
        }


BLUEPRINTS = (blp,)
