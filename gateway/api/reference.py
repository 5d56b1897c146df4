"""Reference data: programmes with the amount in force, administrative units of both schemes."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from gateway.api.auth import services
from gateway.api.schemas import AdminUnitQuery, AdminUnitSchema, ProgrammeSchema
from gateway.db.tables import programme
from gateway.errors import ValidationFailed
from gateway.services import units
from gateway.services.catalogue import load_catalogue

blp = Blueprint("reference", __name__, url_prefix="/api/v1", description="Reference data")


@blp.route("/programmes")
class Programmes(MethodView):
    @blp.response(200, ProgrammeSchema(many=True))
    def get(self) -> Any:
        """Programme catalogue, with the monthly amount in force this month."""
        svc = services()
        period = svc.clock().strftime("%Y-%m")
        with svc.db.read() as conn:
            cat = load_catalogue(conn)
            rows = conn.execute(select(programme).order_by(programme.c.code)).all()
        out = []
        for r in rows:
            try:
                amount = cat.amount(r.code, "ONCE" if r.periodicity == "one_off" else period, None)
            except ValidationFailed:
                amount = None
            out.append({**r._mapping, "amount_now": amount})
        return out


@blp.route("/admin-units")
class AdminUnits(MethodView):
    @blp.arguments(AdminUnitQuery, location="query")
    @blp.response(200, AdminUnitSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Look up a unit by scheme and code; old codes list their 2025 successors."""
        svc = services()
        with svc.db.read() as conn:
            unit = units.resolve(
                conn,
                units.scheme_of(args["scheme"]),
                args["code"],
                level=args["level"],
                field="code",
            )
            translation = units.to_current(conn, unit)
        successors = list(translation.split_candidates) or (
            [translation.unit] if translation.converted else []
        )
        return {
            **unit.__dict__,
            "successors": [
                {"scheme": s.scheme, "code": s.code, "name": s.name} for s in successors
            ],
        }
