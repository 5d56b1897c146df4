"""Payment rails over HTTP: the banks' signed callbacks, and confirmation files.

* ``POST /api/v1/payments/bank/on-disburse`` and ``…/bank/txn/on-status`` — G2P Connect
  callbacks. No bearer token: the Ed25519 signature *is* the authentication, checked with its
  time window before anything else. Answer: the G2P ack (``ACK``), the stored answer again for a
  resend (``X-Ansinh-Replay: true``), or the one error schema with a distinct code
  (``err.signature.invalid|expired``, ``err.request.bad``, ``rjct.message_id.duplicate``).
* ``POST /api/v1/payments/files?channel=bank|postoffice`` — an ISO 20022 pain.002 / camt.05x or a
  post-office return file (raw body or multipart ``file``), for bank staff and officers.
* ``GET /api/v1/payments/rejections`` — the evidence of refused input (codes, times; no bodies).
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from gateway.api.auth import current_actor, require, services
from gateway.db.tables import inbound_rejection
from gateway.domain.states import Role
from gateway.services import inbound

blp = Blueprint(
    "payments",
    __name__,
    url_prefix="/api/v1/payments",
    description="Bank callbacks (G2P Connect), ISO 20022 and post-office confirmation files",
)
UPLOADERS = (Role.BANK, Role.PROVINCE, Role.MINISTRY)
AUDITORS = (Role.MINISTRY, Role.AUDITOR, Role.PROVINCE)


class CallbackAckSchema(Schema):
    message = fields.Dict(metadata={"description": "ack_status, correlation_id, timestamp"})


class FileQuery(Schema):
    channel = fields.String(load_default="bank", validate=validate.OneOf(["bank", "postoffice"]))


class IngestSchema(Schema):
    inbox_id = fields.Integer()
    message_id = fields.String()
    kind = fields.String()
    items = fields.Integer()
    replay = fields.Boolean()
    results = fields.Dict(keys=fields.String(), values=fields.Integer())
    warnings = fields.List(fields.String())


class RejectionSchema(Schema):
    id = fields.Integer()
    channel = fields.String()
    source = fields.String()
    kind = fields.String()
    code = fields.String()
    message = fields.String()
    message_id = fields.String(allow_none=True)
    reference = fields.String(allow_none=True)
    received_at = fields.DateTime()


def _callback(kind: str) -> Any:
    """The hot path: answered as plain JSON (no schema dump, no ETag — the signed body is the
    only input, and the answer is the G2P ack documented below)."""
    answer = inbound.handle_callback(services(), "bank", kind, request.get_data())
    headers = {"X-Ansinh-Replay": "true"} if answer.replay else {}
    return answer.body, 200, headers


ACK = {"schema": CallbackAckSchema, "success": True, "description": "G2P Connect acknowledgement"}


@blp.route("/bank/on-disburse")
class OnDisburse(MethodView):
    @blp.alt_response(200, **ACK)
    def post(self) -> Any:
        """G2P Connect ``on-disburse`` callback: signed ``{signature, header, message}``."""
        return _callback("on-disburse")


@blp.route("/bank/txn/on-status")
class OnStatus(MethodView):
    @blp.alt_response(200, **ACK)
    def post(self) -> Any:
        """G2P Connect ``txn/on-status`` callback (asynchronous status answer)."""
        return _callback("txn-status")


@blp.route("/files")
class Files(MethodView):
    @require(UPLOADERS)
    @blp.arguments(FileQuery, location="query")
    @blp.response(200, IngestSchema)
    @blp.doc(security=[{"bearer": []}])
    def post(self, query: dict[str, Any]) -> Any:
        """Ingest a pain.002 / camt.052/053/054 file or a post-office return file (CSV/XLSX)."""
        upload = request.files.get("file")
        body = upload.read() if upload else request.get_data()
        name = upload.filename or "" if upload else request.headers.get("X-Filename", "")
        return inbound.ingest_file(
            services(), current_actor(), query["channel"], body, filename=name
        )


@blp.route("/rejections")
class Rejections(MethodView):
    @require(AUDITORS)
    @blp.response(200, RejectionSchema(many=True))
    @blp.doc(security=[{"bearer": []}])
    def get(self) -> Any:
        """The latest refused inbound messages and items (evidence; bodies stay encrypted)."""
        with services().db.read() as conn:
            rows = conn.execute(
                select(inbound_rejection).order_by(inbound_rejection.c.id.desc()).limit(200)
            ).all()
        return [dict(r._mapping) for r in rows]


BLUEPRINTS = (blp,)
