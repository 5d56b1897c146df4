"""Doorstep QR: the printable QR sheet per commune and the field officers' verification page."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, flash, jsonify, redirect, render_template, request, url_for
from markupsafe import Markup

from gateway.domain.states import CASE_WORKERS
from gateway.errors import ValidationFailed
from gateway.services import qr
from gateway.web.blueprints import public, web
from gateway.web.forms import QrCancelForm, QrPaidForm, QrTokenForm
from gateway.web.i18n import tr
from gateway.web.session import actor, officer, services
from gateway.web.views_officer import apply_problems, arg_int, programmes


def keyring() -> qr.Keyring:
    """Loaded once per process from ANSINH_CERTS_DIR (signing/keys.json and the QR key)."""
    ring = current_app.extensions.get("ansinh.qr")
    if ring is None:
        ring = qr.keyring_from_settings(services().settings)
        current_app.extensions["ansinh.qr"] = ring
    return ring


@web.route("/qr/sheet")
@officer(CASE_WORKERS)
def qr_sheet() -> Any:
    who = actor()
    unit_id = arg_int("unit") or who.unit_id
    programme_id, period = arg_int("programme"), request.args.get("period", "").strip()
    issued: list[tuple[qr.IssuedToken, Markup]] = []
    if unit_id is not None and programme_id is not None and period:
        tokens = qr.issue_for_unit(services(), who, keyring(), unit_id, programme_id, period)
        issued = [(t, Markup(qr.svg(t.token))) for t in tokens]  # noqa: S704 - segno's own SVG
    return render_template(
        "web/qr_sheet.html",
        issued=issued,
        programmes=programmes(),
        unit_id=unit_id or "",
        programme_id=programme_id,
        period=period,
    )


@web.route("/qr/verify", methods=["GET", "POST"])
@officer(CASE_WORKERS)
def qr_verify() -> Any:
    form = QrTokenForm()
    checked, error = None, None
    if form.validate_on_submit():
        try:
            checked = qr.check(services(), actor(), keyring(), form.token.data or "")
        except qr.QrInvalid as exc:
            error = exc
    status = 200 if request.method == "GET" or checked else 422
    return (
        render_template(
            "web/qr_verify.html",
            form=form,
            checked=checked,
            error=error,
            paid_form=QrPaidForm(formdata=None, token=form.token.data),
            cancel_form=QrCancelForm(formdata=None, token=form.token.data),
        ),
        status,
    )


def _rerender(paid_form: QrPaidForm, cancel_form: QrCancelForm, error: Any = None) -> Any:
    token = paid_form.token.data or cancel_form.token.data or ""
    checked = None
    if error is None:
        try:
            checked = qr.check(services(), actor(), keyring(), token)
        except qr.QrInvalid as exc:
            error = exc
    return (
        render_template(
            "web/qr_verify.html",
            form=QrTokenForm(formdata=None, token=token),
            checked=checked,
            error=error,
            paid_form=paid_form,
            cancel_form=cancel_form,
        ),
        422,
    )


@web.route("/qr/paid", methods=["POST"])
@officer(CASE_WORKERS)
def qr_paid() -> Any:
    form = QrPaidForm()
    cancel = QrCancelForm(formdata=None, token=form.token.data)
    if not form.validate_on_submit():
        return _rerender(form, cancel)
    try:
        result = qr.mark_paid(
            services(),
            actor(),
            keyring(),
            form.token.data or "",
            counter_pid=form.counter_pid.data or "",
            evidence_ref=form.evidence_ref.data or "",
        )
    except qr.QrInvalid as exc:
        return _rerender(form, cancel, exc)
    except ValidationFailed as exc:
        apply_problems(form, exc)
        return _rerender(form, cancel)
    if result.status != "paid":
        reasons = {
            "id_mismatch": (
                "Số định danh không khớp với người hưởng; chưa ghi nhận chi trả",
                "The ID number does not match the beneficiary; nothing was paid",
            ),
            "amount_mismatch": ("Số tiền không khớp lệnh chi", "The amount does not match"),
        }
        vi, en = reasons.get(result.result, ("Chưa ghi nhận được chi trả", "Payment not recorded"))
        form.counter_pid.errors = [f"{vi}|{en}"] if result.result == "id_mismatch" else []
        if result.result != "id_mismatch":
            flash(tr(vi, en), "error")
        return _rerender(form, cancel)
    flash(
        tr(f"Đã ghi nhận chi trả ({result.reference}).", f"Payment recorded ({result.reference}).")
    )
    return redirect(url_for("web.qr_verify"))


@web.route("/qr/cancel", methods=["POST"])
@officer(CASE_WORKERS)
def qr_cancel() -> Any:
    form = QrCancelForm()
    paid = QrPaidForm(formdata=None, token=form.token.data)
    if not form.validate_on_submit():
        return _rerender(paid, form)
    try:
        qr.cancel(
            services(), actor(), keyring(), form.token.data or "", reason=form.reason.data or ""
        )
    except qr.QrInvalid as exc:
        return _rerender(paid, form, exc)
    except ValidationFailed as exc:
        apply_problems(form, exc)
        return _rerender(paid, form)
    flash(tr("Đã hủy lượt chi tại nhà.", "Doorstep payment cancelled."))
    return redirect(url_for("web.qr_verify"))


@public.route("/qr-keys.json")
def qr_keys() -> Response:
    """The published public keys, for offline verifiers (same content as signing/keys.json)."""
    path = services().settings.security.certs_dir / "signing" / "keys.json"
    import json

    keys = json.loads(path.read_text()) if path.exists() else {}
    response = jsonify(keys)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
