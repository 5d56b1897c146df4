"""The two blueprints: the officer workspace (signed in) and the public pages."""

from __future__ import annotations

from flask import Blueprint

web = Blueprint(
    "web",
    __name__,
    url_prefix="/",
    template_folder="templates",
    static_folder="static",
    static_url_path="/web-static",
)
public = Blueprint("public", __name__, url_prefix="/cong-khai", template_folder="templates")
