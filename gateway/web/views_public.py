"""The transparency portal: status lookup by personal ID and birth date, commune statistics."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from sqlalchemy import select

from gateway.db.tables import admin_unit, programme
from gateway.errors import ValidationFailed
from gateway.refdata.admin_units import CURRENT
from gateway.services import lookup
from gateway.web.blueprints import public
from gateway.web.forms import LookupForm
from gateway.web.session import services


def client_key() -> str:
    """Who a request comes from, for the rate limit. Behind a proxy, run gunicorn with
    ``--forwarded-allow-ips`` so that REMOTE_ADDR is the client (docs/web.md)."""
    return request.remote_addr or "unknown"


@public.route("/tra-cuu", methods=["GET", "POST"])
def status_lookup() -> Any:
    form = LookupForm()
    answer: lookup.LookupAnswer | None = None
    status = 200
    if request.method == "POST":
        svc = services()
        lookup.check_rate(svc, client_key())  # RateLimited -> the error page, 429
        if form.validate_on_submit():
            try:
                answer = lookup.lookup(svc, form.personal_id.data or "", form.birth_date.data or "")
            except ValidationFailed as exc:
                for p in exc.problems:
                    field = getattr(form, p.field, None)
                    if field is not None:
                        field.errors = [*field.errors, f"{p.message_vi}|{p.message}"]
                status = 422
        else:
            status = 422
        # the ID never goes back to the page: the form is re-shown empty
        form.personal_id.data = ""
    return render_template("web/public_lookup.html", form=form, answer=answer), status


@public.route("/thong-ke")
def statistics() -> Any:
    svc = services()
    province = request.args.get("province", "79").strip()
    prog = request.args.get("programme", "").strip() or None
    period = request.args.get("period", "").strip() or None
    with svc.db.read() as conn:
        provinces = list(
            conn.execute(
                select(admin_unit.c.code, admin_unit.c.name)
                .where(admin_unit.c.scheme == CURRENT, admin_unit.c.level == "province")
                .order_by(admin_unit.c.name)
            )
        )
        progs = list(
            conn.execute(
                select(programme.c.code, programme.c.name_vi, programme.c.name_en).order_by(
                    programme.c.code
                )
            )
        )
    figures = lookup.commune_statistics(svc, province, prog, period)
    return render_template(
        "web/public_stats.html",
        figures=figures,
        as_of=lookup.statistics_as_of(svc),
        provinces=provinces,
        programmes=progs,
        province=province,
        programme=prog or "",
        period=period or "",
        threshold=svc.settings.web.public_min_count,
    )
