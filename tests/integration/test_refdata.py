"""Administrative units of both schemes and the official succession, loaded into the database."""

from __future__ import annotations

from sqlalchemy import func, select

from gateway.db.tables import admin_succession, admin_unit
from gateway.refdata import admin_units
from gateway.services import units
from gateway.services.context import Services


def test_both_schemes_are_loaded_with_their_levels(svc: Services) -> None:
    with svc.db.read() as conn:
        counts = dict(
            conn.execute(
                select(admin_unit.c.scheme + ":" + admin_unit.c.level, func.count()).group_by(
                    admin_unit.c.scheme, admin_unit.c.level
                )
            ).all()
        )
    assert counts["2025-07:province"] == 34 and counts["2025-07:commune"] == 3321
    assert counts["legacy63:province"] == 63 and counts["legacy63:district"] == 696
    assert counts["legacy63:commune"] > 10_000


def test_codes_collide_across_schemes_and_are_kept_apart(svc: Services) -> None:
    with svc.db.read() as conn:
        old = units.resolve(conn, "legacy63", "00004")
        new = units.resolve(conn, "2025-07", "00004")
    assert old.id != new.id
    assert "Trúc Bạch" in old.name and "Ba Đình" in new.name


def test_succession_is_many_to_many_with_partial_splits(svc: Services) -> None:
    with svc.db.read() as conn:
        split_old = conn.execute(
            select(func.count(func.distinct(admin_succession.c.old_unit_id)))
            .join(admin_unit, admin_unit.c.id == admin_succession.c.old_unit_id)
            .where(admin_succession.c.is_partial.is_(True), admin_unit.c.level == "commune")
        ).scalar_one()
        whole = units.to_current(conn, units.resolve(conn, "legacy63", "00004"))
        old_split_id = conn.execute(
            select(admin_succession.c.old_unit_id)
            .join(admin_unit, admin_unit.c.id == admin_succession.c.old_unit_id)
            .where(admin_succession.c.is_partial.is_(True), admin_unit.c.level == "commune")
            .limit(1)
        ).scalar_one()
        split = units.to_current(conn, units.get(conn, old_split_id))
    assert split_old == 471
    assert whole.converted and whole.unit.code == "00004" and whole.unit.scheme == "2025-07"
    assert split.is_split and len(split.split_candidates) >= 2 and not split.converted


def test_loading_again_changes_nothing(svc: Services) -> None:
    with svc.db.begin() as conn:
        report = admin_units.load(conn)
    assert report.skipped
