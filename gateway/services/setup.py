"""Bring a database to a usable state: migrations, reference data, programme catalogue, accounts."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from gateway.db import migrate
from gateway.db.tables import admin_unit, app_user
from gateway.domain.states import Role
from gateway.refdata import admin_units, programmes
from gateway.refdata.admin_units import CURRENT
from gateway.security.principal import Actor
from gateway.services import accounts
from gateway.services.context import Services


def prepare_database(svc: Services) -> None:
    """Idempotent: migrate to head, load admin units if their version changed, seed programmes."""
    migrate.upgrade(svc.db.engine)
    with svc.db.begin() as conn:
        admin_units.load(conn, now=svc.clock())
        programmes.seed(conn)


def demo_officers(svc: Services, communes: Iterable[str]) -> list[str]:
    """One province officer per province of the given 2025 communes (created once)."""
    created = []
    with svc.db.begin() as conn:
        provinces = sorted(
            set(
                conn.execute(
                    select(admin_unit.c.province_code).where(
                        admin_unit.c.scheme == CURRENT,
                        admin_unit.c.level == "commune",
                        admin_unit.c.code.in_(list(communes)),
                    )
                ).scalars()
            )
        )
        have = set(conn.execute(select(app_user.c.username)).scalars())
        for code in provinces:
            name = f"tinh{code}"
            if name in have:
                continue
            accounts.add_user(
                conn,
                Actor.system("setup"),
                username=name,
                display_name=f"Cán bộ Sở tỉnh {code}",
                role=Role.PROVINCE.value,
                unit_scheme=CURRENT,
                unit_code=code,
                unit_level="province",
                now=svc.clock(),
            )
            created.append(name)
    return created


def province_officers(svc: Services) -> list[Actor]:
    with svc.db.read() as conn:
        ids = list(
            conn.execute(
                select(app_user.c.id)
                .where(app_user.c.role == Role.PROVINCE.value, app_user.c.active.is_(True))
                .order_by(app_user.c.id)
            ).scalars()
        )
        return [accounts.actor_for_user(conn, i) for i in ids]
