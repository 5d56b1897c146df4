"""ansinh-gateway: the Flask application factory."""

from __future__ import annotations

import datetime as dt

from flask import Flask

from gateway.settings import Settings


def create_app(settings: Settings | None = None, *, services: object = None) -> Flask:
    """Build the WSGI app. Settings come from the environment unless given; nothing connects here
    beyond creating the (lazy) engine pool."""
    from gateway import logs
    from gateway.api import init_api
    from gateway.bootstrap import build_services
    from gateway.metrics import Metrics
    from gateway.services.context import Services

    settings = settings or Settings.from_env()
    svc = services if isinstance(services, Services) else build_services(settings)
    logs.configure(svc.settings.log_level, json_output=svc.settings.log_json)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=svc.settings.security.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=svc.settings.env == "production",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(minutes=svc.settings.security.session_minutes),
        MAX_CONTENT_LENGTH=64 * 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    from gateway.sessions import LazySessionInterface

    app.session_interface = LazySessionInterface()
    app.extensions["ansinh"] = svc
    metrics = Metrics()
    metrics.init_app(app)
    app.extensions["ansinh.metrics"] = metrics
    logs.init_request_logging(app)
    init_api(app)
    _register_web(app)
    return app


def _register_web(app: Flask) -> None:
    """The officer workspace and public pages, when the web package provides them."""
    import gateway.web as web

    init_web = getattr(web, "init_web", None)
    if init_web is not None:
        init_web(app)
