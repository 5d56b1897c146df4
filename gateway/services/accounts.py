"""Accounts, API tokens and the actor a request acts as.

Passwords are hashed with werkzeug's scrypt; API tokens are 256-bit random values of which only
the SHA-256 is stored. Every account has a role and, except national roles, an admin unit that
bounds what it may see and do (checked in the service layer, not only in views).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from gateway.db.tables import admin_unit, api_token, app_user
from gateway.domain.states import Role
from gateway.errors import Conflict, Unauthorized, problem
from gateway.security.principal import Actor
from gateway.services import audit, units

NATIONAL_ROLES = frozenset({Role.MINISTRY, Role.AUDITOR})
TOKEN_PREFIX = "ansinh_"  # noqa: S105 - a visible prefix, not a secret


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    display_name: str
    role: Role
    unit: str | None  # scheme:code
    active: bool


def role_of(raw: str) -> Role:
    try:
        return Role(raw)
    except ValueError:
        raise problem(
            "role",
            "role.unknown",
            f"{raw!r} is not a role ({', '.join(r.value for r in Role)})",
            f"{raw!r} không phải vai trò hợp lệ",
        ) from None


def add_user(
    conn: Connection,
    by: Actor,
    *,
    username: str,
    display_name: str,
    role: str,
    unit_scheme: str | None,
    unit_code: str | None,
    unit_level: str | None = None,
    password: str | None = None,
    now: dt.datetime,
) -> int:
    parsed = role_of(role)
    unit_id = None
    if parsed not in NATIONAL_ROLES or unit_code:
        if not unit_code:
            raise problem(
                "unit",
                "unit.required",
                f"a {parsed.value} needs an admin unit",
                f"vai trò {parsed.value} cần gắn với một đơn vị hành chính",
            )
        level = unit_level or {Role.COMMUNE: "commune", Role.DISTRICT: "district"}.get(
            parsed, "province"
        )
        unit_id = units.resolve(
            conn, units.scheme_of(unit_scheme), unit_code, level=level, field="unit"
        ).id
    if conn.execute(select(app_user.c.id).where(app_user.c.username == username)).first():
        raise Conflict(
            f"user {username!r} already exists",
            f"người dùng {username!r} đã tồn tại",
            code="user.exists",
        )
    if password is not None and len(password) < 10:
        raise problem(
            "password",
            "password.too_short",
            "must be at least 10 characters",
            "phải có ít nhất 10 ký tự",
        )
    user_id = int(
        conn.execute(
            insert(app_user)
            .values(
                username=username,
                display_name=display_name,
                role=parsed.value,
                unit_id=unit_id,
                password_hash=generate_password_hash(password) if password else None,
                active=True,
                created_at=now,
            )
            .returning(app_user.c.id)
        ).scalar_one()
    )
    audit.record(
        conn,
        by,
        "user.add",
        "app_user",
        user_id,
        purpose="account management",
        detail={"username": username, "role": parsed.value, "unit_id": unit_id},
    )
    return user_id


def list_users(conn: Connection) -> list[UserRow]:
    rows = conn.execute(
        select(app_user, admin_unit.c.scheme, admin_unit.c.code)
        .outerjoin(admin_unit, admin_unit.c.id == app_user.c.unit_id)
        .order_by(app_user.c.username)
    )
    return [
        UserRow(
            r.id,
            r.username,
            r.display_name,
            Role(r.role),
            f"{r.scheme}:{r.code}" if r.code else None,
            r.active,
        )
        for r in rows
    ]


def issue_token(
    conn: Connection,
    by: Actor,
    username: str,
    name: str,
    *,
    now: dt.datetime,
    days: int | None = 365,
) -> str:
    user_id = conn.execute(select(app_user.c.id).where(app_user.c.username == username)).scalar()
    if user_id is None:
        raise problem(
            "username", "user.unknown", f"no user {username!r}", f"không có người dùng {username!r}"
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    conn.execute(
        insert(api_token).values(
            user_id=user_id,
            token_hash=hash_token(token),
            name=name,
            created_at=now,
            expires_at=now + dt.timedelta(days=days) if days else None,
        )
    )
    audit.record(
        conn,
        by,
        "token.issue",
        "app_user",
        user_id,
        purpose="account management",
        detail={"name": name},
    )
    return token


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def actor_for_user(conn: Connection, user_id: int) -> Actor:
    row = conn.execute(
        select(app_user, admin_unit.c.path, admin_unit.c.scheme)
        .outerjoin(admin_unit, admin_unit.c.id == app_user.c.unit_id)
        .where(app_user.c.id == user_id, app_user.c.active.is_(True))
    ).first()
    if row is None:
        raise Unauthorized(
            "the account is disabled or unknown",
            "tài khoản không tồn tại hoặc đã bị khóa",
            code="auth.account",
        )
    return Actor(
        username=row.username,
        role=Role(row.role),
        unit_id=row.unit_id,
        unit_path=row.path,
        unit_scheme=row.scheme,
        user_id=row.id,
    )


def authenticate_token(conn: Connection, token: str, now: dt.datetime) -> Actor:
    row = conn.execute(select(api_token).where(api_token.c.token_hash == hash_token(token))).first()
    if (
        row is None
        or row.revoked_at is not None
        or (row.expires_at and _aware(row.expires_at) < now)
    ):
        raise Unauthorized(
            "invalid or expired token",
            "mã truy cập không hợp lệ hoặc đã hết hạn",
            code="auth.token",
        )
    conn.execute(update(api_token).where(api_token.c.id == row.id).values(last_used_at=now))
    return actor_for_user(conn, row.user_id)


def authenticate_password(conn: Connection, username: str, password: str) -> Actor:
    row = conn.execute(
        select(app_user.c.id, app_user.c.password_hash).where(
            app_user.c.username == username, app_user.c.active.is_(True)
        )
    ).first()
    # compare against a dummy hash when the user is unknown, so timing does not reveal accounts
    stored = row.password_hash if row is not None and row.password_hash else _dummy_hash()
    if not check_password_hash(stored, password) or row is None or not row.password_hash:
        raise Unauthorized(
            "wrong username or password", "sai tên đăng nhập hoặc mật khẩu", code="auth.password"
        )
    return actor_for_user(conn, int(row.id))


@functools.cache
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe(16))


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
