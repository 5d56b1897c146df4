"""A small world for the officer pages: a demo cycle, accounts with passwords, and one commune
with cash beneficiaries awaiting the doorstep payment and clean enrollments awaiting approval."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from adapters.registry.port import RegistryPerson
from certs import pki
from gateway.db.tables import admin_unit, enrollment, flag, programme
from gateway.domain.dates import BirthDate
from gateway.refdata.admin_units import CURRENT
from gateway.security.principal import Actor
from gateway.services import accounts, disburse, enrollments, intake, verify
from gateway.services.context import Services
from gateway.services.demo import build_world, run_demo

PASSWORD = "mat-khau-thu-nghiem"
COMMUNE = "26743"  # a commune of Hồ Chí Minh City (2025 scheme)
PERIOD = "2026-08"
SYSTEM = Actor.system("web-test")
# (personal ID, name, birth date, gender): IDs agree with birth year and gender (DOMAIN.md §1)
PEOPLE = (
    ("079050900001", "Trần Văn Bình", "1950-03-04", "Nam"),
    ("079148900002", "Lê Thị Cúc", "1948-11-20", "Nữ"),
    ("079052900003", "Phạm Văn Dũng", "1952-07-15", "Nam"),
    ("079149900004", "Võ Thị Hoa", "1949-01-02", "Nữ"),
    ("079045900005", "Đặng Văn Hùng", "1945-05-05", "Nam"),
    ("079147900006", "Bùi Thị Lan", "1947-09-09", "Nữ"),
)


@dataclass
class WebWorld:
    commune_id: int
    other_commune_id: int
    other_commune: str
    programme_id: int
    payable: list[int] = field(default_factory=list)  # approved, cash, instruction waiting
    clean_verified: list[int] = field(default_factory=list)
    flagged_verified: list[int] = field(default_factory=list)
    people: tuple[tuple[str, str, str, str], ...] = PEOPLE


def use_certs(svc: Services, directory: Path) -> None:
    """A development PKI (with the QR key ansinh-qr-1) for this test's services."""
    pki.init(directory)
    security = dataclasses.replace(svc.settings.security, certs_dir=directory)
    svc.settings = svc.settings.with_(security=security)


def add_user(
    svc: Services, username: str, role: str, unit: str | None = None, level: str | None = None
) -> None:
    with svc.db.begin() as conn:
        accounts.add_user(
            conn,
            SYSTEM,
            username=username,
            display_name=username,
            role=role,
            unit_scheme=CURRENT,
            unit_code=unit,
            unit_level=level,
            password=PASSWORD,
            now=svc.clock(),
        )


def bearer(svc: Services, username: str) -> dict[str, str]:
    """An API ``Authorization`` header for an existing user."""
    with svc.db.begin() as conn:
        token = accounts.issue_token(conn, SYSTEM, username, "test", now=svc.clock())
    return {"Authorization": f"Bearer {token}"}


def user_bearer(
    svc: Services, username: str, role: str, unit: str | None = None, level: str | None = None
) -> dict[str, str]:
    """A new user of that role and unit (national roles: none) and an API header for them."""
    add_user(svc, username, role, unit, level)
    return bearer(svc, username)


def seed(svc: Services, certs_dir: Path, *, people: int = 400, seed_value: int = 7) -> WebWorld:
    use_certs(svc, certs_dir)
    world = build_world(people, seed_value)
    svc.registry, svc.welfare = world.registry, world.welfare
    svc.payments = {"bank": world.bank, "postoffice": world.post}
    run_demo(svc, world, seed=seed_value)
    with svc.db.read() as conn:
        commune_id = conn.execute(
            select(admin_unit.c.id).where(
                admin_unit.c.scheme == CURRENT,
                admin_unit.c.level == "commune",
                admin_unit.c.code == COMMUNE,
            )
        ).scalar_one()
        other = conn.execute(
            select(admin_unit.c.id, admin_unit.c.code)
            .where(
                admin_unit.c.scheme == CURRENT,
                admin_unit.c.level == "commune",
                admin_unit.c.province_code == "79",
                admin_unit.c.code != COMMUNE,
            )
            .order_by(admin_unit.c.code)
            .limit(1)
        ).one()
        prog_id = conn.execute(
            select(programme.c.id).where(programme.c.code == "ND20-TCXH")
        ).scalar_one()
    out = WebWorld(commune_id, other.id, other.code, prog_id)
    _doorstep_commune(svc, out)
    with svc.db.read() as conn:
        out.flagged_verified = list(
            conn.execute(
                select(enrollment.c.id)
                .where(
                    enrollment.c.state == "verified",
                    enrollment.c.id.in_(
                        select(flag.c.enrollment_id).where(flag.c.status == "open")
                    ),
                )
                .order_by(enrollment.c.id)
            ).scalars()
        )
    add_user(svc, "bo", "ministry_officer", None, None)
    add_user(svc, "canbotinh", "province_officer", "79", "province")
    add_user(svc, "xa", "commune_officer", COMMUNE, "commune")
    add_user(svc, "xakhac", "commune_officer", other.code, "commune")
    return out


def _doorstep_commune(svc: Services, out: WebWorld) -> None:
    """Six people of one commune for PERIOD: three approved and disbursed in cash (the batch
    is created, not yet sent: the doorstep officer pays), three verified and clean."""
    for pid, name, birth, gender in PEOPLE:
        year, month, day = (int(x) for x in birth.split("-"))
        svc.registry.add(  # type: ignore[attr-defined]
            RegistryPerson(
                pid, name, BirthDate(year, month, day), "M" if gender == "Nam" else "F", "alive"
            )
        )
    rows = [
        {
            "personal_id": pid,
            "full_name": name,
            "birth_date": birth,
            "gender": gender,
            "commune_code": COMMUNE,
            "channel": "postoffice",
        }
        for pid, name, birth, gender in PEOPLE
    ]
    intake.import_rows(
        svc,
        SYSTEM,
        source_key="web-test/doorstep",
        source_kind="fake",
        mapping="canonical",
        programme_code="ND20-TCXH",
        period=PERIOD,
        content_hash="v1",
        rows=rows,
    )
    verify.verify_pending(svc, SYSTEM)
    with svc.db.read() as conn:
        ids = list(
            conn.execute(
                select(enrollment.c.id)
                .where(enrollment.c.period == PERIOD, enrollment.c.state == "verified")
                .order_by(enrollment.c.id)
            ).scalars()
        )
    assert len(ids) == len(PEOPLE), ids
    enrollments.approve(svc, SYSTEM, ids[:3], reason="test list")
    made = disburse.create_instructions(svc, SYSTEM, "ND20-TCXH", PERIOD)
    assert made.created == 3
    out.payable, out.clean_verified = ids[:3], ids[3:]


def two_enrollments(svc: Services) -> tuple[int, int]:
    """Two proposed enrollments imported as an API list: one in Bến Thành (26743), one in a
    neighbouring commune (26740) of TP.HCM; their ids in that order."""
    rows = [
        {
            "personal_id": "079050000101",
            "full_name": "Nguyễn Văn An",
            "birth_date": "1950",
            "gender": "Nam",
            "commune_code": "26743",
        },
        {
            "personal_id": "079151000202",
            "full_name": "Lê Thị Bình",
            "birth_date": "1951",
            "gender": "Nữ",
            "commune_code": "26740",
        },
    ]
    intake.import_rows(
        svc,
        Actor.system("t"),
        source_key="k",
        source_kind="api",
        mapping="canonical",
        programme_code="ND20-TCXH",
        period="2026-07",
        content_hash="h",
        rows=rows,
    )
    with svc.db.read() as conn:
        first, second = conn.execute(select(enrollment.c.id).order_by(enrollment.c.id)).scalars()
    return first, second
