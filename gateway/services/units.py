"""Administrative units: resolve scheme-qualified codes, translate old→new, and compute scope.

Codes are only meaningful with their scheme (legacy ``00004`` is not 2025 ``00004``). A legacy
commune that went whole into one new commune translates; one split across several is returned as
a split for a person to decide — never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, and_, literal, or_, select, union
from sqlalchemy.orm import aliased

from gateway.db.tables import admin_succession, admin_unit
from gateway.errors import Forbidden, problem
from gateway.refdata.admin_units import CURRENT, LEGACY
from gateway.security.principal import Actor

SCHEMES = (LEGACY, CURRENT)
SCHEME_ALIASES = {
    "legacy63": LEGACY,
    "legacy": LEGACY,
    "63": LEGACY,
    "old": LEGACY,
    "cu": LEGACY,
    "2025-07": CURRENT,
    "2025": CURRENT,
    "34": CURRENT,
    "new": CURRENT,
    "moi": CURRENT,
}


@dataclass(frozen=True)
class Unit:
    id: int
    scheme: str
    level: str
    code: str
    name: str
    path: str
    province_code: str

    @property
    def qualified(self) -> str:
        return f"{self.scheme}:{self.code}"


@dataclass(frozen=True)
class Translation:
    unit: Unit  # the unit records should use
    source: Unit  # as received
    converted: bool
    split_candidates: tuple[Unit, ...] = ()  # several successors: a person must choose

    @property
    def is_split(self) -> bool:
        return bool(self.split_candidates)


def scheme_of(raw: str | None, *, field: str = "scheme") -> str:
    if raw is None or not str(raw).strip():
        return CURRENT
    key = str(raw).strip().lower()
    if key not in SCHEME_ALIASES:
        raise problem(
            field,
            "admin_scheme.unknown",
            f"{raw!r} is not an admin-code scheme (use legacy63 or 2025-07)",
            f"{raw!r} không phải hệ mã hành chính (dùng legacy63 hoặc 2025-07)",
        )
    return SCHEME_ALIASES[key]


def _unit(row: Any) -> Unit:
    return Unit(
        id=int(row.id),
        scheme=row.scheme,
        level=row.level,
        code=row.code,
        name=row.name,
        path=row.path,
        province_code=row.province_code,
    )


def get(conn: Connection, unit_id: int) -> Unit:
    row = conn.execute(select(admin_unit).where(admin_unit.c.id == unit_id)).first()
    if row is None:
        raise problem(
            "unit_id",
            "admin_unit.unknown",
            f"no admin unit {unit_id}",
            f"không có đơn vị hành chính {unit_id}",
        )
    return _unit(row)


def resolve(
    conn: Connection,
    scheme: str,
    code: object,
    *,
    level: str = "commune",
    field: str = "commune_code",
) -> Unit:
    text = "" if code is None else str(code).strip()
    if text.isdigit():
        text = text.zfill({"province": 2, "district": 3, "commune": 5}[level])
    row = conn.execute(
        select(admin_unit).where(
            admin_unit.c.scheme == scheme, admin_unit.c.level == level, admin_unit.c.code == text
        )
    ).first()
    if row is None:
        raise problem(
            field,
            "admin_unit.unknown",
            f"{text or '(empty)'} is not a {level} code in scheme {scheme}",
            f"{text or '(trống)'} không phải mã {_level_vi(level)} trong hệ mã {scheme}",
        )
    return _unit(row)


def to_current(conn: Connection, unit: Unit) -> Translation:
    if unit.scheme == CURRENT:
        return Translation(unit, unit, converted=False)
    new = aliased(admin_unit)
    rows = conn.execute(
        select(new, admin_succession.c.is_partial)
        .join(admin_succession, admin_succession.c.new_unit_id == new.c.id)
        .where(admin_succession.c.old_unit_id == unit.id)
        .order_by(new.c.code)
    ).all()
    successors = tuple(_unit(r) for r in rows)
    if len(successors) == 1:
        return Translation(successors[0], unit, converted=True)
    if not successors:  # a dissolved unit with no successor recorded: keep it as received
        return Translation(unit, unit, converted=False)
    return Translation(unit, unit, converted=False, split_candidates=successors)


def _level_vi(level: str) -> str:
    return {"province": "tỉnh", "district": "huyện", "commune": "xã"}[level]


# -- scope ----------------------------------------------------------------------------------


def scope_units(actor: Actor) -> Select[tuple[int]] | None:
    """ids of the units an actor may see; None means everything (national roles, system)."""
    if actor.is_system or actor.is_national:
        return None
    assert actor.unit_path is not None and actor.unit_scheme is not None
    own = select(admin_unit.c.id).where(
        admin_unit.c.scheme == actor.unit_scheme,
        admin_unit.c.path.startswith(actor.unit_path, autoescape=True),
    )
    if actor.unit_scheme != CURRENT:
        return own
    # records kept on a legacy unit (a split commune awaiting decision) belong to every
    # current unit the legacy one flowed into
    new = aliased(admin_unit)
    legacy = (
        select(admin_succession.c.old_unit_id)
        .join(new, new.c.id == admin_succession.c.new_unit_id)
        .where(new.c.path.startswith(actor.unit_path, autoescape=True))
    )
    return select(union(own, legacy).subquery().c[0])


def in_scope(conn: Connection, actor: Actor, unit_id: int) -> bool:
    units = scope_units(actor)
    if units is None:
        return True
    return conn.execute(select(literal(1)).where(literal(unit_id).in_(units))).first() is not None


def require_scope(conn: Connection, actor: Actor, unit_id: int) -> None:
    if not in_scope(conn, actor, unit_id):
        raise Forbidden(
            "this record belongs to an admin unit outside your scope",
            "hồ sơ thuộc đơn vị hành chính ngoài phạm vi quản lý của bạn",
            code="scope.outside",
        )


def scope_filter(actor: Actor, unit_column: Any) -> Any:
    """A WHERE clause limiting ``unit_column`` to the actor's scope (true for national roles)."""
    units = scope_units(actor)
    if units is None:
        return and_(literal(True))
    return or_(unit_column.in_(units))
