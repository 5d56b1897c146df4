"""Forms of the officer and public pages (Flask-WTF: CSRF token + field validation).

Validation messages are "vi|en" pairs, shown next to the field in the reader's language.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    IntegerField,
    PasswordField,
    StringField,
    TextAreaField,
)
from wtforms.validators import AnyOf, DataRequired, Length, NumberRange, Optional, Regexp

from gateway.domain.case_actions import CaseAction

REQUIRED = "Bắt buộc nhập|Required"
RESOLUTIONS = tuple(a.value for a in CaseAction)  # what gateway.services.cases.resolve takes


class LoginForm(FlaskForm):
    username = StringField(validators=[DataRequired(REQUIRED), Length(max=80)])
    password = PasswordField(validators=[DataRequired(REQUIRED), Length(max=200)])
    next = HiddenField()


class ApproveForm(FlaskForm):
    reason = StringField(
        validators=[
            DataRequired("Phải ghi lý do phê duyệt|A reason for the approval is required"),
            Length(max=500),
        ]
    )
    override_reason = TextAreaField(validators=[Optional(), Length(max=1000)])


class ResolveForm(FlaskForm):
    action = StringField(
        validators=[
            DataRequired(REQUIRED),
            AnyOf(
                RESOLUTIONS,
                message="Chọn một hành động trong danh sách|Choose an action from the list",
            ),
        ]
    )
    reason = TextAreaField(
        validators=[DataRequired("Phải ghi lý do|A reason is required"), Length(max=2000)]
    )
    evidence_ref = StringField(validators=[Optional(), Length(max=120)])
    merge_into = IntegerField(  # merge_persons: the person who remains
        validators=[
            Optional(),
            NumberRange(min=1, message="Mã người không hợp lệ|Not a valid person id"),
        ]
    )


class DiscardForm(FlaskForm):
    reason = TextAreaField(
        validators=[DataRequired("Phải ghi lý do|A reason is required"), Length(max=2000)]
    )


class EmptyForm(FlaskForm):
    """Buttons that only need the CSRF token (retry a dead letter, sign out)."""


class QrTokenForm(FlaskForm):
    token = TextAreaField(
        validators=[
            DataRequired("Dán hoặc quét nội dung mã QR|Paste or scan the QR content"),
            Length(max=2000),
        ]
    )


class QrPaidForm(QrTokenForm):
    counter_pid = StringField(
        validators=[
            DataRequired("Nhập số định danh trên thẻ căn cước|Enter the ID number from the card"),
            Regexp(r"^\s*\d{12}\s*$", message="Số định danh gồm 12 chữ số|12 digits"),
        ]
    )
    evidence_ref = StringField(
        validators=[
            DataRequired("Cần mã ảnh minh chứng|An evidence photo reference is required"),
            Length(max=120),
        ]
    )


class QrCancelForm(QrTokenForm):
    reason = TextAreaField(
        validators=[DataRequired("Phải ghi lý do hủy|A reason is required"), Length(max=1000)]
    )


class LookupForm(FlaskForm):
    personal_id = StringField(
        validators=[
            DataRequired("Nhập số định danh cá nhân|Enter your personal ID"),
            Regexp(
                r"^\s*\d{12}\s*$",
                message="Số định danh cá nhân gồm 12 chữ số|The personal ID has 12 digits",
            ),
        ]
    )
    birth_date = StringField(
        validators=[
            DataRequired("Nhập ngày sinh (ngày/tháng/năm)|Enter your birth date (dd/mm/yyyy)"),
            Length(max=20),
        ]
    )
