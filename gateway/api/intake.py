"""Intake over the API: canonical rows in, an import summary out (rejects go to quarantine)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from gateway.api.auth import current_actor, require, services
from gateway.api.schemas import ImportSummarySchema, IntakeRowsSchema
from gateway.domain.states import PROPOSERS
from gateway.services import intake

blp = Blueprint("intake", __name__, url_prefix="/api/v1/intake", description="Beneficiary lists")


@blp.route("/rows")
class IntakeRows(MethodView):
    @require(PROPOSERS)
    @blp.arguments(IntakeRowsSchema)
    @blp.response(200, ImportSummarySchema)
    @blp.doc(security=[{"bearer": []}])
    def post(self, body: dict[str, Any]) -> Any:
        """Import rows in the canonical shape; the same content twice is imported once."""
        digest = hashlib.sha256(
            json.dumps(body["rows"], sort_keys=True, ensure_ascii=False).encode()
        ).hexdigest()
        summary = intake.import_rows(
            services(),
            current_actor(),
            source_key=f"api:{body['source_key']}",
            source_kind="api",
            mapping="canonical",
            programme_code=body["programme"],
            period=body["period"],
            content_hash=digest,
            rows=body["rows"],
        )
        return summary.as_dict()
