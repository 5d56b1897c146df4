"""marshmallow schemas of the JSON API: requests validated on the way in, answers on the way out."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from mappings.canonical import NAMES


class ProgrammeSchema(Schema):
    code = fields.String()
    name_vi = fields.String()
    name_en = fields.String()
    legal_basis = fields.String()
    periodicity = fields.String()
    amount_kind = fields.String()
    exclusion_group = fields.String(allow_none=True)
    amount_now = fields.Integer(
        allow_none=True, metadata={"description": "VND for the current month"}
    )


class AdminUnitQuery(Schema):
    scheme = fields.String(load_default="2025-07")
    code = fields.String(required=True, validate=validate.Regexp(r"^\d{2,5}$"))
    level = fields.String(
        load_default="commune", validate=validate.OneOf(["province", "district", "commune"])
    )


class AdminUnitSchema(Schema):
    id = fields.Integer()
    scheme = fields.String()
    level = fields.String()
    code = fields.String()
    name = fields.String()
    path = fields.String()
    successors = fields.List(fields.Dict(), metadata={"description": "2025 units (old codes only)"})


class IntakeRowsSchema(Schema):
    programme = fields.String(required=True)
    period = fields.String(required=True, validate=validate.Regexp(r"^(\d{4}-\d{2}|ONCE)$"))
    source_key = fields.String(required=True, validate=validate.Length(min=1, max=200))
    rows = fields.List(
        fields.Dict(keys=fields.String(validate=validate.OneOf(NAMES))),
        required=True,
        validate=validate.Length(min=1, max=50_000),
    )


class ImportSummarySchema(Schema):
    import_id = fields.Integer()
    status = fields.String()
    accepted = fields.Integer()
    quarantined = fields.Integer()
    duplicates = fields.Integer()
    superseded = fields.Integer()
    flagged = fields.Integer()


class EnrollmentQuery(Schema):
    programme = fields.String()
    period = fields.String()
    state = fields.String(
        validate=validate.OneOf(
            ["proposed", "verified", "approved", "paid", "rejected", "cancelled", "suspended"]
        )
    )
    after_id = fields.Integer(load_default=0, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class FlagSchema(Schema):
    kind = fields.String()
    status = fields.String()
    detail = fields.Dict()


class EnrollmentSchema(Schema):
    id = fields.Integer()
    programme = fields.String()
    period = fields.String()
    state = fields.String()
    amount = fields.Integer()
    channel = fields.String()
    unit = fields.String()
    full_name = fields.String(metadata={"description": "masked unless the role allows"})
    personal_id = fields.String(metadata={"description": "always masked"})
    flags = fields.List(fields.Nested(FlagSchema))


class ApproveSchema(Schema):
    ids = fields.List(fields.Integer(), required=True, validate=validate.Length(min=1, max=5000))
    reason = fields.String(required=True, validate=validate.Length(min=3, max=500))
    override_reason = fields.String(load_default=None, validate=validate.Length(min=3, max=500))


class ApprovalResultSchema(Schema):
    approved = fields.List(fields.Integer())
    blocked = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
