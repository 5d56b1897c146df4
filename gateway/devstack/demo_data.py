"""Demo data for ``make run``: a generated population run once through the whole cycle, and
sign-in accounts for the officer workspace. Skipped when the database already holds data."""

from __future__ import annotations

from sqlalchemy import func, select

from gateway.devstack import Stack

ORDER = 90
DEMO_PASSWORD = "ansinh-demo-2026"  # noqa: S105 - the documented password of local demo accounts
DEMO_USERS = (
    ("bo", "ministry_officer", None, None, "Cán bộ Bộ (toàn quốc)"),
    ("tinh79", "province_officer", "79", "province", "Cán bộ Sở — TP. Hồ Chí Minh"),
    ("tinh01", "province_officer", "01", "province", "Cán bộ Sở — Hà Nội"),
    ("xa26743", "commune_officer", "26743", "commune", "Cán bộ phường Bến Thành"),
    ("kiemtoan", "auditor", None, None, "Kiểm toán viên"),
)


def start(stack: Stack) -> None:
    from gateway.bootstrap import build_services
    from gateway.db.tables import app_user, enrollment
    from gateway.devstack.world import PEOPLE, PERIOD, SEED
    from gateway.security.principal import Actor
    from gateway.services import accounts, setup
    from gateway.services.demo import DemoReport, build_world, run_cycle

    settings = stack.settings()
    svc = build_services(settings)
    try:
        setup.prepare_database(svc)
        with svc.db.read() as conn:
            has_data = conn.execute(select(func.count()).select_from(enrollment)).scalar_one() > 0
        if not has_data:
            stack.say(f"loading demo data: {PEOPLE} people, seed {SEED} …")
            world = build_world(PEOPLE, SEED, period=PERIOD)
            # ports the stack runs a simulator for use it (settings say so); the rest use the
            # in-memory fakes loaded with the same generated world
            if settings.registry.backend == "fake":
                svc.registry = world.registry
            if settings.welfare.backend == "fake":
                svc.welfare = world.welfare
            if settings.payments.backend == "fake":
                svc.payments = {"bank": world.bank, "postoffice": world.post}
            setup.demo_officers(svc, sorted({p.commune for p in world.beneficiaries.values()}))
            run_cycle(svc, world, DemoReport(PEOPLE, SEED, world.period, "dev"))
        with svc.db.begin() as conn:
            have = set(conn.execute(select(app_user.c.username)).scalars())
            for username, role, unit, level, name in DEMO_USERS:
                if username in have:
                    continue
                accounts.add_user(
                    conn,
                    Actor.system("make-run"),
                    username=username,
                    display_name=name,
                    role=role,
                    unit_scheme="2025-07",
                    unit_code=unit,
                    unit_level=level,
                    password=DEMO_PASSWORD,
                    now=svc.clock(),
                )
    finally:
        svc.close()
    stack.notes.append(
        f"demo accounts {', '.join(u[0] for u in DEMO_USERS)} — password "
        f"{DEMO_PASSWORD} (local demo only)"
    )
