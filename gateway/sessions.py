"""Flask's signed-cookie sessions, built only when a request brings a session cookie.

Flask constructs an itsdangerous serializer (and test-serialises ``{}``) in ``open_session`` on
every request, also when there is no cookie to read — most API calls and every bank callback,
where it cost about as much as verifying the callback's Ed25519 signature. Without a cookie the
result is the same fresh, empty session either way.
"""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface


class LazySessionInterface(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)
