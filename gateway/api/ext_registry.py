"""Registry endpoints: SPDCI ``notify`` (death notifications pushed by the registry / CRVS,
authenticated by their Ed25519 envelope signature) and the record of verification runs."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy import select

from gateway.api.auth import require, services
from gateway.db.tables import registry_verify_run
from gateway.domain.states import READERS
from gateway.errors import problem
from gateway.services import registry_notify

MAX_NOTIFY_BYTES = 1024 * 1024

blp = Blueprint(
    "registry", __name__, url_prefix="/api/v1/registry", description="Population registry"
)


class NotifyAckSchema(Schema):
    ack_status = fields.String(required=True)
    correlation_id = fields.String(required=True)
    timestamp = fields.String()
    applied = fields.Integer()
    suspended = fields.Integer()
    held = fields.Integer()


class NotifyResponseSchema(Schema):
    message = fields.Nested(NotifyAckSchema, required=True)


class RunSchema(Schema):
    id = fields.Integer()
    programme_code = fields.String(allow_none=True)
    actor = fields.String()
    status = fields.String()
    counts = fields.Dict()
    started_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)


@blp.route("/notify")
class Notify(MethodView):
    @blp.response(200, NotifyResponseSchema)
    @blp.doc(
        description="SPDCI notify: a signed {signature, header, message} envelope whose "
        "notify_event items carry death records (reg_record_type 'death'). The signature is the "
        "authentication: kidId 'sender|key|ed25519' must name a trusted sender and key "
        "(ANSINH_REGISTRY_NOTIFY_SENDERS). The person's open entitlements are suspended and "
        "unsent payments held; the message is kept as evidence."
    )
    def post(self) -> Any:
        """Receive a registry notification (e.g. a CRVS death)."""
        if (request.content_length or 0) > MAX_NOTIFY_BYTES:
            raise problem(
                "body", "notify.too_large", "the message is too large", "thông điệp quá lớn"
            )
        raw = request.get_data(cache=False)
        return {"message": registry_notify.receive_notification(services(), raw)}


@blp.route("/verification-runs")
class Runs(MethodView):
    @require(READERS)
    @blp.response(200, RunSchema(many=True))
    @blp.doc(security=[{"bearer": []}])
    def get(self) -> Any:
        """The latest bulk verification runs (counts by outcome and error code)."""
        with services().db.read() as conn:
            return [
                dict(r._mapping)
                for r in conn.execute(
                    select(registry_verify_run).order_by(registry_verify_run.c.id.desc()).limit(50)
                )
            ]


BLUEPRINTS = (blp,)
