"""Intake over HTTP: list files in, the canonical template out, quarantine, enrollment moves."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from gateway.api.auth import current_actor, require, services
from gateway.api.schemas import ImportSummarySchema
from gateway.domain.states import APPROVERS, PROPOSERS, READERS, Role
from gateway.errors import problem
from mappings.canonical import NAMES

files_blp = Blueprint(
    "intake_files", __name__, url_prefix="/api/v1/intake", description="Provincial list files"
)
quarantine_blp = Blueprint(
    "quarantine", __name__, url_prefix="/api/v1/quarantine", description="Rejected intake rows"
)
moves_blp = Blueprint(
    "enrollment_moves",
    __name__,
    url_prefix="/api/v1/enrollments",
    description="Enrollment workflow transitions",
)
BLUEPRINTS = (files_blp, quarantine_blp, moves_blp)
MOVERS = frozenset({*PROPOSERS, *APPROVERS})


class FileImportArgs(Schema):
    programme = fields.String(required=True)
    period = fields.String(required=True, validate=validate.Regexp(r"^(\d{4}-\d{2}|ONCE)$"))
    mapping = fields.String(load_default="canonical", validate=validate.Length(max=120))
    source_key = fields.String(load_default=None, validate=validate.Length(max=200))


class TemplateArgs(Schema):
    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))


class QuarantineQuery(Schema):
    import_id = fields.Integer(load_default=None)
    status = fields.String(
        load_default="open", validate=validate.OneOf(["open", "replayed", "discarded", "all"])
    )
    after_id = fields.Integer(load_default=0, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000))


class ProblemSchema(Schema):
    field = fields.String()
    rule = fields.String()
    message = fields.String()
    message_vi = fields.String()
    value = fields.String()


class QuarantineRowSchema(Schema):
    id = fields.Integer()
    import_id = fields.Integer()
    source = fields.String(allow_none=True)
    source_kind = fields.String()
    mapping = fields.String()
    programme = fields.String()
    period = fields.String()
    row_number = fields.Integer()
    location = fields.String(allow_none=True)
    source_ref = fields.String(allow_none=True)
    unit = fields.String(allow_none=True)
    status = fields.String()
    problems = fields.List(fields.Nested(ProblemSchema))
    resolution = fields.String(allow_none=True)
    enrollment_id = fields.Integer(allow_none=True)
    fields_ = fields.Dict(data_key="fields", attribute="fields", dump_default=None)


class ReplaySchema(Schema):
    corrected = fields.Dict(
        keys=fields.String(validate=validate.OneOf(NAMES)),
        required=True,
        metadata={"description": "canonical field → corrected value"},
    )


class ReplayResultSchema(Schema):
    accepted = fields.Boolean()
    enrollment_id = fields.Integer(allow_none=True)
    problems = fields.List(fields.Nested(ProblemSchema))


class DiscardSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=3, max=500))


class MoveSchema(Schema):
    to = fields.String(
        required=True,
        validate=validate.OneOf(
            ["approved", "rejected", "cancelled", "suspended", "proposed", "verified"]
        ),
    )
    reason = fields.String(required=True, validate=validate.Length(min=3, max=500))


class MoveResultSchema(Schema):
    id = fields.Integer()
    from_state = fields.String(data_key="from")
    to = fields.String()


@files_blp.route("/files")
class FileImport(MethodView):
    @require(PROPOSERS)
    @files_blp.arguments(FileImportArgs, location="query")
    @files_blp.response(200, ImportSummarySchema)
    @files_blp.doc(security=[{"bearer": []}])
    def post(self, args: dict[str, Any]) -> Any:
        """Upload a CSV or XLSX list (multipart field ``file``, or the raw body).

        Rejected rows go to quarantine; a file that is not what the mapping expects is refused
        whole (422, ``intake.file_rejected``)."""
        from gateway.bootstrap import open_welfare_file
        from gateway.services import intake

        upload = request.files.get("file")
        name = Path(upload.filename or "upload").name if upload else "upload.csv"
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            if upload is not None:
                upload.save(path)
            else:
                path.write_bytes(request.get_data())
            if path.stat().st_size == 0:
                raise problem("file", "file.empty", "no file was sent", "chưa gửi tệp")
            summary = intake.import_file(
                services(),
                current_actor(),
                open_welfare_file(path, args["mapping"]),
                mapping=args["mapping"],
                programme_code=args["programme"],
                period=args["period"],
                source_key=args["source_key"],
            )
        return summary.as_dict()


@files_blp.route("/template")
class Template(MethodView):
    @files_blp.arguments(TemplateArgs, location="query")
    @files_blp.response(200)
    def get(self, args: dict[str, Any]) -> Any:
        """The canonical template (CSV or XLSX); Vietnamese headers, English names accepted."""
        from mappings import template

        if args["format"] == "xlsx":
            return Response(
                template.xlsx_bytes(),
                mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                headers={"Content-Disposition": "attachment; filename=mau-danh-sach.xlsx"},
            )
        return Response(
            template.csv_bytes(),
            mimetype="text/csv; charset=utf-8",
            headers={"Content-Disposition": "attachment; filename=mau-danh-sach.csv"},
        )


@quarantine_blp.route("")
class QuarantineList(MethodView):
    @require(READERS)
    @quarantine_blp.arguments(QuarantineQuery, location="query")
    @quarantine_blp.response(200, QuarantineRowSchema(many=True))
    @quarantine_blp.doc(security=[{"bearer": []}])
    def get(self, args: dict[str, Any]) -> Any:
        """Rejected rows in the caller's scope (values masked), keyset-paged by id."""
        from gateway.services import quarantine

        with services().db.read() as conn:
            return quarantine.list_rows(
                conn,
                current_actor(),
                import_id=args["import_id"],
                status=None if args["status"] == "all" else args["status"],
                after_id=args["after_id"],
                limit=args["limit"],
            )


@quarantine_blp.route("/<int:row_id>")
class QuarantineItem(MethodView):
    @require(frozenset({*PROPOSERS, Role.MINISTRY}))
    @quarantine_blp.response(200, QuarantineRowSchema)
    @quarantine_blp.doc(security=[{"bearer": []}])
    def get(self, row_id: int) -> Any:
        """One row with its problems and its fields for correction (an audited read)."""
        from gateway.services import quarantine

        return quarantine.get_row(services(), current_actor(), row_id)


@quarantine_blp.route("/<int:row_id>/replay")
class QuarantineReplay(MethodView):
    @require(PROPOSERS)
    @quarantine_blp.arguments(ReplaySchema)
    @quarantine_blp.response(200, ReplayResultSchema)
    @quarantine_blp.doc(security=[{"bearer": []}])
    def post(self, body: dict[str, Any], row_id: int) -> Any:
        """Correct fields and run the row through intake again."""
        from gateway.services import quarantine

        result = quarantine.replay(services(), current_actor(), row_id, body["corrected"])
        return {
            "accepted": result.accepted,
            "enrollment_id": result.enrollment_id,
            "problems": [p.as_dict() for p in result.problems],
        }


@quarantine_blp.route("/<int:row_id>/discard")
class QuarantineDiscard(MethodView):
    @require(PROPOSERS)
    @quarantine_blp.arguments(DiscardSchema)
    @quarantine_blp.response(204)
    @quarantine_blp.doc(security=[{"bearer": []}])
    def post(self, body: dict[str, Any], row_id: int) -> None:
        """Close a row that must not be imported, with a reason."""
        from gateway.services import quarantine

        quarantine.discard(services(), current_actor(), row_id, body["reason"])


@moves_blp.route("/<int:enrollment_id>/transitions")
class EnrollmentMove(MethodView):
    @require(MOVERS)
    @moves_blp.arguments(MoveSchema)
    @moves_blp.response(200, MoveResultSchema)
    @moves_blp.doc(security=[{"bearer": []}])
    def post(self, body: dict[str, Any], enrollment_id: int) -> Any:
        """Reject, cancel, suspend, re-propose, resume or approve one enrollment, with a reason."""
        from gateway.services import enrollments

        left = enrollments.move(
            services(), current_actor(), enrollment_id, body["to"], reason=body["reason"]
        )
        return {"id": enrollment_id, "from_state": left, "to": body["to"]}
