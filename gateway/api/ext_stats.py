"""Statistics over HTTP: ``GET /api/v1/stats?unit=&programme=&period=``.

The latest daily snapshot's figures for a unit (``[scheme:]code``; default: the caller's own
unit, the whole country for national roles), a programme code and a period — approved, paid,
unpaid, amounts, open cases by type, the payment-channel split and the registry-sync campaign
figures — with the areas one level below and ``as_of``, when the snapshot was taken. Scope is
checked like every read: a unit outside the caller's is refused (403 ``scope.outside``).
Definitions: docs/statistics.md.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from gateway.api.auth import current_actor, require, services
from gateway.domain.states import READERS
from gateway.errors import NotFound
from gateway.services import stats

blp = Blueprint(
    "stats",
    __name__,
    url_prefix="/api/v1/stats",
    description="Statistics snapshots per admin unit, programme and period",
)


class StatsQuery(Schema):
    unit = fields.String(
        load_default=None, metadata={"description": "[scheme:]code (default: your own unit)"}
    )
    programme = fields.String(load_default=None, metadata={"description": "programme code"})
    period = fields.String(
        load_default=None,
        validate=validate.Regexp(r"^(\d{4}-(0[1-9]|1[0-2])|ONCE)$"),
        metadata={"description": "YYYY-MM or ONCE (default: every period)"},
    )


class UnitSchema(Schema):
    id = fields.Integer()
    scheme = fields.String()
    level = fields.String()
    code = fields.String()
    name = fields.String()


class AreaSchema(Schema):
    unit_id = fields.Integer()
    level = fields.String()
    scheme = fields.String()
    code = fields.String()
    name = fields.String()
    figures = fields.Dict(keys=fields.String(), values=fields.Integer())


class StatsSchema(Schema):
    day = fields.String()
    as_of = fields.String(metadata={"description": "when the snapshot was taken (UTC)"})
    unit = fields.Nested(UnitSchema, allow_none=True)
    programme_id = fields.Integer(allow_none=True)
    period = fields.String(allow_none=True)
    figures = fields.Dict(keys=fields.String(), values=fields.Integer())
    campaign = fields.Dict(keys=fields.String(), values=fields.Integer())
    open_cases = fields.Dict(keys=fields.String(), values=fields.Integer())
    breakdown = fields.List(fields.Nested(AreaSchema))


@blp.route("")
class Stats(MethodView):
    @require(READERS)
    @blp.arguments(StatsQuery, location="query")
    @blp.response(200, StatsSchema)
    @blp.doc(security=[{"bearer": []}])
    def get(self, query: dict[str, Any]) -> Any:
        """The latest snapshot's figures for a unit, programme and period (scope-checked)."""
        with services().db.read() as conn:
            unit_id, programme_id = stats.resolve_filters(conn, query["unit"], query["programme"])
            view = stats.read(conn, current_actor(), unit_id, programme_id, query["period"])
        if view is None:
            raise NotFound(
                "no statistics snapshot has been taken yet",
                "chưa có số liệu tổng hợp nào được lập",
                code="stats.no_snapshot",
            )
        return view.as_dict()


BLUEPRINTS = (blp,)
