"""The officer workspace, the public status lookup and doorstep QR verification (server-rendered,
Vietnamese first; see docs/web.md)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask, Response, current_app, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect

from gateway.errors import GatewayError, NotFound
from gateway.web import i18n


def init_web(app: Flask) -> None:
    from gateway.web import views_officer, views_ops, views_public, views_qr  # noqa: F401
    from gateway.web.blueprints import public, web

    # CSRF is checked on every POST of the web blueprints (not on the bearer-token JSON API)
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # bound to the session, which expires
    CSRFProtect(app)
    if not web.before_request_funcs:  # blueprints are module-level: hooks are added once
        for blueprint in (web, public):
            blueprint.before_request(_check_csrf)
            blueprint.after_request(_headers)
            blueprint.register_error_handler(GatewayError, _gateway_error)
            blueprint.register_error_handler(CSRFError, _csrf_error)
    app.register_blueprint(web)
    app.register_blueprint(public)
    app.jinja_env.globals.update(_=i18n.tr, label=i18n.label, lang=i18n.lang)
    app.jinja_env.filters.update(vnd=vnd, number=number, date=vn_date, ferr=field_error)


def _check_csrf() -> None:
    current_app.extensions["csrf"].protect()


def _headers(response: Response) -> Response:
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "media-src 'self' blob:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.endpoint != "web.static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _gateway_error(exc: GatewayError) -> tuple[str, int]:
    if exc.status == 403 and request.method == "GET":
        # a record outside the officer's scope looks like one that does not exist
        exc = NotFound("not found", "không tìm thấy", code="not_found")
    return render_template("web/error.html", error=exc, status=exc.status), exc.status


def _csrf_error(exc: CSRFError) -> tuple[str, int]:
    error = GatewayError(
        "the form expired or did not come from this site; reload the page and try again",
        "biểu mẫu đã hết hạn hoặc không xuất phát từ trang này; hãy tải lại trang và thử lại",
        code="csrf",
    )
    return render_template("web/error.html", error=error, status=400), 400


def vnd(value: Any) -> str:
    return f"{number(value)} ₫"


def number(value: Any) -> str:
    """Vietnamese grouping: 1.250.000."""
    if value is None:
        return "–"
    return f"{int(value):,}".replace(",", ".")


def vn_date(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def field_error(form: Any, name: str) -> list[str]:
    """Translated messages of one field."""
    field = getattr(form, name, None)
    return [i18n.tr(str(m)) for m in (field.errors if field is not None else [])]
