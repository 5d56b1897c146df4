"""Officer sign-in: a signed session cookie holding the account id and the time of the last
request; idle sessions expire after ``ANSINH_SESSION_MINUTES`` (checked on the server)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import current_app, flash, g, redirect, request, session, url_for

from gateway.domain.states import Role
from gateway.errors import Forbidden, Unauthorized
from gateway.security.principal import Actor
from gateway.services import accounts
from gateway.services.context import Services
from gateway.web.i18n import tr

F = TypeVar("F", bound=Callable[..., Any])


def services() -> Services:
    return current_app.extensions["ansinh"]


def sign_in(actor: Actor) -> None:
    lang = session.get("lang")
    session.clear()  # a fresh session on sign-in: no fixation
    session.permanent = True
    session["uid"] = actor.user_id
    session["seen"] = int(time.time())
    if lang:
        session["lang"] = lang


def sign_out() -> None:
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def load_officer() -> Actor | None:
    """The signed-in actor, or None (expired or signed out); refreshes the idle timer."""
    uid = session.get("uid")
    if uid is None:
        return None
    svc = services()
    idle = svc.settings.security.session_minutes * 60
    if int(time.time()) - int(session.get("seen", 0)) > idle:
        sign_out()
        flash(
            tr(
                "Phiên làm việc đã hết hạn, vui lòng đăng nhập lại.",
                "Your session expired; please sign in again.",
            )
        )
        return None
    try:
        with svc.db.read() as conn:
            actor = accounts.actor_for_user(conn, int(uid))
    except Unauthorized:
        sign_out()
        return None
    session["seen"] = int(time.time())
    return actor


def safe_next(target: str | None) -> str:
    """Only local paths: a sign-in link cannot send an officer to another site."""
    if not target:
        return url_for("web.dashboard")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("web.dashboard")
    return target


def officer(roles: Iterable[Role] | None = None) -> Callable[[F], F]:
    allowed = frozenset(roles) if roles is not None else None

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            actor = load_officer()
            if actor is None:
                return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
            if allowed is not None and actor.role not in allowed:
                raise Forbidden(
                    "your role may not open this page",
                    "vai trò của bạn không được mở trang này",
                    code="role.forbidden",
                )
            g.actor = actor
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def actor() -> Actor:
    return g.actor
