"""API authentication: ``Authorization: Bearer <token>`` → the acting account (g.actor)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import current_app, g, request

from gateway.domain.states import Role
from gateway.errors import Forbidden, Unauthorized
from gateway.security.principal import Actor
from gateway.services import accounts
from gateway.services.context import Services

F = TypeVar("F", bound=Callable[..., Any])


def services() -> Services:
    return current_app.extensions["ansinh"]


def current_actor() -> Actor:
    actor = getattr(g, "actor", None)
    if actor is None:
        raise Unauthorized("authentication required", "cần đăng nhập", code="auth.required")
    return actor


def authenticate() -> Actor:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise Unauthorized(
            "a bearer token is required", "cần mã truy cập (Bearer token)", code="auth.required"
        )
    svc = services()
    with svc.db.begin() as conn:
        return accounts.authenticate_token(conn, header[7:].strip(), svc.clock())


def require(roles: Iterable[Role] | None = None) -> Callable[[F], F]:
    allowed = frozenset(roles) if roles is not None else None

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            actor = getattr(g, "actor", None) or authenticate()
            if allowed is not None and actor.role not in allowed:
                raise Forbidden(
                    "your role may not do this",
                    "vai trò của bạn không được phép",
                    code="role.forbidden",
                )
            g.actor = actor
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator
