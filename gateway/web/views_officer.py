"""Sign-in, the dashboard, the case queue and case page, enrollment approval."""

from __future__ import annotations

import importlib.util
from typing import Any

from flask import flash, redirect, render_template, request, session, url_for
from sqlalchemy import select

from gateway.db.tables import programme
from gateway.domain.case_actions import ACTION_LABELS, applicable
from gateway.domain.states import APPROVERS, CASE_WORKERS, READERS, MismatchType
from gateway.errors import GatewayError, Unauthorized, ValidationFailed
from gateway.services import enrollments
from gateway.services.workspace import casequeue
from gateway.services.workspace import dashboard as dash
from gateway.services.workspace import enrollments as pending
from gateway.web.blueprints import web
from gateway.web.forms import ApproveForm, LoginForm, ResolveForm
from gateway.web.i18n import LANGS, tr
from gateway.web.session import actor, officer, safe_next, services, sign_in, sign_out


def arg_int(name: str) -> int | None:
    raw = request.args.get(name, "").strip()
    return int(raw) if raw.isdigit() else None


def programmes() -> list[Any]:
    with services().db.read() as conn:
        return list(conn.execute(select(programme).order_by(programme.c.code)))


def apply_problems(form: Any, exc: ValidationFailed) -> None:
    """A service's field problems shown next to the form's fields (or on top)."""
    for p in exc.problems:
        field = getattr(form, p.field, None)
        text = f"{p.message_vi}|{p.message}"
        if field is not None:
            field.errors = [*field.errors, text] if isinstance(field.errors, list) else [text]
        else:
            flash(tr(p.message_vi, p.message), "error")


# -- sign-in ----------------------------------------------------------------------------------


@web.route("/")
def index() -> Any:
    return redirect(url_for("web.dashboard"))


@web.route("/lang/<code>", methods=["POST"])
def set_lang(code: str) -> Any:
    if code in LANGS:
        session["lang"] = code
    return redirect(safe_next(request.form.get("next")))


@web.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        svc = services()
        try:
            with svc.db.begin() as conn:
                who = accounts_authenticate(
                    conn, form.username.data or "", form.password.data or ""
                )
        except Unauthorized:
            form.password.errors = ["Sai tên đăng nhập hoặc mật khẩu|Wrong username or password"]
        else:
            sign_in(who)
            return redirect(safe_next(form.next.data))
    return render_template("web/login.html", form=form), 200 if request.method == "GET" else 422


def accounts_authenticate(conn: Any, username: str, password: str) -> Any:
    from gateway.services import accounts

    return accounts.authenticate_password(conn, username, password)


@web.route("/logout", methods=["POST"])
def logout() -> Any:
    sign_out()
    flash(tr("Đã đăng xuất.", "Signed out."))
    return redirect(url_for("web.login"))


# -- dashboard --------------------------------------------------------------------------------


@web.route("/dashboard")
@officer(READERS)
def dashboard() -> Any:
    svc = services()
    period = request.args.get("period", "").strip() or None
    with svc.db.read() as conn:
        figures = dash.figures(
            conn,
            actor(),
            unit_id=arg_int("unit"),
            programme_id=arg_int("programme"),
            period=period,
        )
    return render_template(
        "web/dashboard.html",
        f=figures,
        programmes=programmes(),
        programme_id=arg_int("programme"),
        period=period or "",
    )


# -- cases ------------------------------------------------------------------------------------


def _queue_filter() -> casequeue.QueueFilter:
    kind = request.args.get("type") or None
    sort = request.args.get("sort", "oldest")
    return casequeue.QueueFilter(
        type=kind if kind in {m.value for m in MismatchType} else None,
        unit_id=arg_int("unit"),
        programme_id=arg_int("programme"),
        min_age_days=arg_int("min_age"),
        max_age_days=arg_int("max_age"),
        sort=sort if sort in casequeue.SORTS else "oldest",
    )


@web.route("/cases")
@officer(READERS)
def cases() -> Any:
    svc = services()
    filters = _queue_filter()
    with svc.db.read() as conn:
        page = casequeue.queue_page(
            conn, actor(), filters, now=svc.clock(), after=request.args.get("after")
        )
    args = {k: v for k, v in request.args.items() if k != "after" and v}
    return render_template(
        "web/cases.html",
        page=page,
        filters=filters,
        types=[m.value for m in MismatchType],
        programmes=programmes(),
        args=args,
    )


def resolution_service() -> Any:
    """``gateway.services.cases`` (reconciliation area) when it is installed, else None."""
    if importlib.util.find_spec("gateway.services.cases") is None:
        return None
    module = importlib.import_module("gateway.services.cases")
    return module if hasattr(module, "resolve") else None


def case_actions(case_type: str) -> list[tuple[str, str, str]]:
    """(value, vi, en) of the actions this case type allows, for the resolve form."""
    return [(a.value, *ACTION_LABELS[a]) for a in applicable(case_type)]


@web.route("/cases/<int:case_id>")
@officer(READERS)
def case_page(case_id: int) -> Any:
    svc = services()
    with svc.db.read() as conn:
        view = casequeue.get_case_view(conn, svc.vault, actor(), case_id)
    return render_template(
        "web/case.html",
        v=view,
        form=ResolveForm(),
        can_resolve=resolution_service() is not None and actor().role in CASE_WORKERS,
        actions=case_actions(view.case.type),
    )


@web.route("/cases/<int:case_id>/resolve", methods=["POST"])
@officer(CASE_WORKERS)
def resolve_case(case_id: int) -> Any:
    svc = services()
    with svc.db.read() as conn:  # scope first: a case outside it is 404 whatever the form says
        view = casequeue.get_case_view(conn, svc.vault, actor(), case_id)
    form = ResolveForm()
    status = 422
    cases_service = resolution_service()
    if cases_service is None:
        flash(
            tr(
                "Chức năng xử lý vụ việc chưa được cài đặt.",
                "Case resolution is not installed yet.",
            ),
            "error",
        )
        return redirect(url_for("web.case_page", case_id=case_id))
    if form.validate_on_submit():
        try:
            cases_service.resolve(
                svc,
                actor(),
                case_id,
                form.action.data,
                form.reason.data,
                evidence_ref=form.evidence_ref.data or None,
                merge_into=form.merge_into.data or None,
            )
        except ValidationFailed as exc:
            apply_problems(form, exc)
        except GatewayError as exc:
            if exc.status != 409:  # resolved meanwhile, a payment still live: say so on the page
                raise
            flash(tr(exc.message_vi, exc.message), "error")
            status = 409
        else:
            flash(tr("Đã xử lý vụ việc.", "Case resolved."))
            return redirect(url_for("web.case_page", case_id=case_id))
    return (
        render_template(
            "web/case.html",
            v=view,
            form=form,
            can_resolve=True,
            actions=case_actions(view.case.type),
        ),
        status,
    )


# -- enrollments ------------------------------------------------------------------------------


def _flagged_arg() -> bool | None:
    return {"yes": True, "no": False}.get(request.args.get("flagged", ""))


@web.route("/enrollments")
@officer(READERS)
def enrollment_list() -> Any:
    return _render_pending(ApproveForm(), status=200)


def _render_pending(
    form: ApproveForm, *, status: int, blocked: dict[int, list[str]] | None = None
) -> Any:
    svc = services()
    with svc.db.read() as conn:
        rows, nxt = pending.pending_approval(
            conn,
            actor(),
            programme_id=arg_int("programme"),
            period=request.args.get("period") or None,
            flagged=_flagged_arg(),
            after_id=arg_int("after") or 0,
        )
    args = {k: v for k, v in request.args.items() if k != "after" and v}
    return (
        render_template(
            "web/enrollments.html",
            rows=rows,
            next_after=nxt,
            form=form,
            programmes=programmes(),
            args=args,
            can_approve=actor().role in APPROVERS,
            blocked=blocked or {},
            selected={int(i) for i in request.form.getlist("ids") if i.isdigit()},
        ),
        status,
    )


@web.route("/enrollments/approve", methods=["POST"])
@officer(APPROVERS)
def approve() -> Any:
    form = ApproveForm()
    ids = [int(i) for i in request.form.getlist("ids") if i.isdigit()]
    valid = form.validate_on_submit()
    if not ids:
        flash(tr("Chọn ít nhất một hồ sơ.", "Select at least one enrollment."), "error")
        valid = False
    if not valid:
        return _render_pending(form, status=422)
    svc = services()
    with svc.db.read() as conn:
        flagged = pending.open_flags(conn, ids)
    override = (form.override_reason.data or "").strip()
    if flagged and not override:
        form.override_reason.errors = [
            "Hồ sơ có cờ cảnh báo: phải ghi lý do vượt cờ"
            "|Flagged enrollments need an override reason"
        ]
        return _render_pending(form, status=422, blocked={k: sorted(v) for k, v in flagged.items()})
    try:
        result = enrollments.approve(
            svc, actor(), ids, reason=form.reason.data or "", override_reason=override or None
        )
    except ValidationFailed as exc:
        apply_problems(form, exc)
        return _render_pending(form, status=422)
    flash(
        tr(
            f"Đã phê duyệt {len(result.approved)} hồ sơ.",
            f"Approved {len(result.approved)} enrollments.",
        )
    )
    args: dict[str, Any] = {k: v for k, v in request.args.items() if v}
    return redirect(url_for("web.enrollment_list", **args))


@web.route("/enrollments/<int:enrollment_id>")
@officer(READERS)
def enrollment_page(enrollment_id: int) -> Any:
    svc = services()
    with svc.db.read() as conn:
        view = pending.enrollment_view(conn, svc.vault, actor(), enrollment_id)
    return render_template(
        "web/enrollment.html",
        v=view,
        form=ApproveForm(),
        can_approve=actor().role in APPROVERS and view.row.state == "verified",
    )
