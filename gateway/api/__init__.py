"""JSON API: flask-smorest blueprints, OpenAPI documentation at /api/docs."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from gateway.api import errors


def init_api(app: Flask) -> Api:
    app.config.update(
        API_TITLE="ansinh-gateway",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL="/static/swagger-ui/",
        API_SPEC_OPTIONS={
            "info": {
                "description": "Integration gateway for social-assistance payments. "
                "Errors use one schema: code, status, message, message_vi, errors."
            },
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        },
    )
    api = Api(app)
    errors.init_app(app)
    from gateway.api import enrollments, health, intake, reference

    app.register_blueprint(health.blp)  # not in the spec: probes and metrics only
    for module in (reference, intake, enrollments):
        api.register_blueprint(module.blp)
    _register_optional(api)
    return api


def _register_optional(api: Api) -> None:
    """Blueprints of later areas (cases, payments, registry) register themselves if present."""
    import importlib
    import pkgutil

    import gateway.api as package

    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("ext_"):
            continue
        module = importlib.import_module(f"gateway.api.{info.name}")
        for blp in getattr(module, "BLUEPRINTS", ()):
            api.register_blueprint(blp)
