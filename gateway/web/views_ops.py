"""Quarantine review, job runs, dead letters, exports and the printable payout list."""

from __future__ import annotations

from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from gateway.db.tables import programme
from gateway.domain.states import PROPOSERS, READERS, Role
from gateway.errors import ValidationFailed, problem
from gateway.services import exports, quarantine
from gateway.services.workspace import ops
from gateway.services.workspace import quarantine as qview
from gateway.web.blueprints import web
from gateway.web.forms import DiscardForm, EmptyForm
from gateway.web.i18n import tr
from gateway.web.session import actor, officer, services
from gateway.web.views_officer import apply_problems, arg_int, programmes

OPERATORS = (Role.MINISTRY, Role.AUDITOR)
QUARANTINE_ROLES = (*PROPOSERS, Role.MINISTRY, Role.AUDITOR)


# -- quarantine -------------------------------------------------------------------------------


@web.route("/quarantine")
@officer(QUARANTINE_ROLES)
def quarantine_list() -> Any:
    svc = services()
    status = request.args.get("status", "open")
    if status not in ("open", "replayed", "discarded"):
        status = "open"
    with svc.db.read() as conn:
        rows, nxt = qview.list_rows(conn, actor(), status=status, after_id=arg_int("after") or 0)
    return render_template("web/quarantine.html", rows=rows, next_after=nxt, status=status)


@web.route("/quarantine/<int:row_id>")
@officer(QUARANTINE_ROLES)
def quarantine_row(row_id: int) -> Any:
    return _render_row(row_id, DiscardForm(), errors={}, status=200)


def _render_row(
    row_id: int, discard: DiscardForm, *, errors: dict[str, list[str]], status: int
) -> Any:
    item = qview.get_row(services(), actor(), row_id)
    return (
        render_template(
            "web/quarantine_row.html",
            item=item,
            discard=discard,
            replay_form=EmptyForm(),
            errors=errors,
            corrected=request.form if request.method == "POST" else {},
            can_act=actor().role in PROPOSERS,
        ),
        status,
    )


@web.route("/quarantine/<int:row_id>/replay", methods=["POST"])
@officer(PROPOSERS)
def quarantine_replay(row_id: int) -> Any:
    svc = services()
    corrected: dict[str, object] = {
        k[4:]: v.strip() for k, v in request.form.items() if k.startswith("fix_") and v.strip()
    }
    try:
        if not corrected:
            raise problem(
                "corrected",
                "correction.required",
                "enter at least one corrected value",
                "nhập ít nhất một giá trị đã sửa",
            )
        result = quarantine.replay(svc, actor(), row_id, corrected)
    except ValidationFailed as exc:
        errors = {p.field: [f"{p.message_vi}|{p.message}"] for p in exc.problems}
        return _render_row(row_id, DiscardForm(formdata=None), errors=errors, status=422)
    if not result.accepted:
        errors = {p.field: [f"{p.message_vi}|{p.message}"] for p in result.problems}
        return _render_row(row_id, DiscardForm(formdata=None), errors=errors, status=422)
    flash(tr("Đã nạp lại dòng; hồ sơ mới đã được tạo.", "Row replayed; an enrollment was created."))
    return redirect(url_for("web.quarantine_list"))


@web.route("/quarantine/<int:row_id>/discard", methods=["POST"])
@officer(PROPOSERS)
def quarantine_discard(row_id: int) -> Any:
    form = DiscardForm()
    if form.validate_on_submit():
        try:
            quarantine.discard(services(), actor(), row_id, form.reason.data)
        except ValidationFailed as exc:
            apply_problems(form, exc)
        else:
            flash(tr("Đã loại bỏ dòng.", "Row discarded."))
            return redirect(url_for("web.quarantine_list"))
    return _render_row(row_id, form, errors={}, status=422)


# -- operations -------------------------------------------------------------------------------


@web.route("/ops/jobs")
@officer(OPERATORS)
def job_runs() -> Any:
    svc = services()
    with svc.db.read() as conn:
        rows, nxt = ops.job_runs(
            conn, actor(), job=request.args.get("job") or None, before_id=arg_int("before")
        )
    return render_template("web/jobs.html", rows=rows, next_before=nxt)


@web.route("/ops/dead-letters")
@officer(OPERATORS)
def dead_letters() -> Any:
    svc = services()
    with svc.db.read() as conn:
        rows, nxt = ops.dead_letters(conn, actor(), after_id=arg_int("after") or 0)
    return render_template(
        "web/dead_letters.html",
        rows=rows,
        next_after=nxt,
        form=EmptyForm(),
        can_retry=actor().role == Role.MINISTRY,
    )


@web.route("/ops/dead-letters/<int:message_id>/retry", methods=["POST"])
@officer((Role.MINISTRY,))
def retry_dead_letter(message_id: int) -> Any:
    ops.retry_dead_letter(services(), actor(), message_id)
    flash(
        tr(
            f"Đã đưa thông điệp {message_id} vào hàng gửi lại.",
            f"Message {message_id} queued again.",
        )
    )
    return redirect(url_for("web.dead_letters"))


# -- exports ----------------------------------------------------------------------------------

STATES = ("proposed", "verified", "approved", "paid", "rejected", "cancelled", "suspended")


def _export_filter() -> exports.ExportFilter:
    state = request.args.get("state") or None
    return exports.ExportFilter(
        unit_id=arg_int("unit"),
        programme_id=arg_int("programme"),
        state=state if state in STATES else None,
        period_from=_period(request.args.get("from")),
        period_to=_period(request.args.get("to")),
    )


def _period(raw: str | None) -> str | None:
    text = (raw or "").strip()
    return text if len(text) == 7 and text[4] == "-" and text.replace("-", "").isdigit() else None


@web.route("/exports")
@officer(READERS)
def export_page() -> Any:
    args = {k: v for k, v in request.args.items() if v}
    return render_template("web/exports.html", programmes=programmes(), states=STATES, args=args)


@web.route("/exports/enrollments.<kind>")
@officer(READERS)
def export_file(kind: str) -> Any:
    if kind not in ("csv", "xlsx"):
        return redirect(url_for("web.export_page"))
    svc, who, f = services(), actor(), _export_filter()
    records = exports.rows(svc, who, f)
    first = next(records, None)  # scope errors surface now, as a page, not mid-stream
    exports.record_export(svc, who, kind, f)

    def everything() -> Any:
        if first is not None:
            yield first
        yield from records

    name = f"danh-sach-huong-{svc.clock():%Y%m%d}"
    if kind == "csv":
        body = exports.csv_stream(everything())
        mimetype = "text/csv; charset=utf-8"
    else:
        body = exports.xlsx_stream(everything(), title="Danh sách hưởng")
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{kind}"'
    return response


@web.route("/exports/payout-list")
@officer(READERS)
def payout_list() -> Any:
    unit_id, programme_id = arg_int("unit"), arg_int("programme")
    period = _period(request.args.get("period"))
    who = actor()
    unit_id = unit_id if unit_id is not None else who.unit_id
    if unit_id is None or programme_id is None or period is None:
        flash(
            tr(
                "Chọn xã, chương trình và kỳ (YYYY-MM) để in danh sách chi trả.",
                "Choose a commune, a programme and a period (YYYY-MM) to print the list.",
            ),
            "error",
        )
        return redirect(url_for("web.export_page"))
    svc = services()
    with svc.db.read() as conn:
        if (
            conn.execute(select(programme.c.id).where(programme.c.id == programme_id)).first()
            is None
        ):
            raise problem(
                "programme", "programme.unknown", "no such programme", "không có chương trình"
            )
    listing = exports.payout_list(
        svc, who, unit_id=unit_id, programme_id=programme_id, period=period
    )
    return render_template("web/payout_list.html", p=listing, today=svc.clock())
