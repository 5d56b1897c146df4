"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import text

from gateway.api.auth import services

blp = Blueprint("health", __name__)


@blp.get("/health")
def health() -> Any:
    """The process is up (no dependency is touched)."""
    return jsonify({"status": "ok"})


@blp.get("/ready")
def ready() -> Any:
    """Ready to serve: the database answers and is migrated."""
    svc = services()
    try:
        with svc.db.read() as conn:
            conn.execute(text("SELECT 1 FROM admin_scheme LIMIT 1"))
    except Exception as exc:  # any failure means "not ready"; the reason is logged, not shown
        return jsonify({"status": "unavailable", "database": type(exc).__name__}), 503
    return jsonify({"status": "ready", "database": svc.db.engine.dialect.name})
