"""Screening at scale: candidates against the tick ledger, set-based SQL, SQLite and PostgreSQL.

    .venv/bin/python benchmarks/screen.py [--quick] [--candidates N] [--ticks M]

Builds a fresh database per backend with the real migrations (default 1,000,000 candidate
enrollments and 10,000,000 ticks; ``--quick`` 20,000 and 200,000), 1% of candidates already
ticked by another locality this period, then times ``gateway.services.screen.ticked_elsewhere``
(one SQL join through the tick ledger's unique index; only hits come back to Python) and the
bulk insert of the hits as flags, in one transaction. Loading is not timed; the databases are
dropped (PostgreSQL) or deleted (SQLite) afterwards.
Last line: {"sqlite_s": …, "postgresql_s": …}
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, create_engine, select, text

from gateway.db import migrate
from gateway.db.engine import make_engine
from gateway.db.tables import admin_unit, enrollment, person, programme, tick
from gateway.refdata import admin_units, programmes
from gateway.services import screen
from gateway.services.intake_bulk import Bulk

PG_ADMIN = os.environ.get("ANSINH_TEST_PG", "postgresql+psycopg://127.0.0.1:5432/test")
PERIOD = "2026-07"
CHUNK = 50_000
GROUP = "tcxh-hang-thang"
ENROLLMENT = (
    "programme_id",
    "period",
    "person_id",
    "unit_id",
    "amount",
    "state",
    "channel",
    "created_at",
)
TICK = (
    "person_id",
    "exclusion_group",
    "period",
    "unit_id",
    "programme_code",
    "source",
    "state",
    "created_at",
)


def _periods(n: int) -> list[str]:
    out, year, month = [], 2026, 6
    for _ in range(n):
        out.append(f"{year}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out


def load(engine: Engine, candidates: int, ticks: int) -> int:
    """The reference data, then persons, candidate enrollments and the tick ledger, written with
    the bulk intake's statements (``COPY`` on PostgreSQL). Not timed."""
    with engine.begin() as conn:
        admin_units.load(conn)
        programmes.seed(conn)
        prog = conn.execute(select(programme.c.id).where(programme.c.code == "ND20-TCXH")).scalar()
        unit_a, unit_b = conn.execute(
            select(admin_unit.c.id).where(admin_unit.c.scheme == "2025-07").limit(2)
        ).scalars()
    people = max(candidates, 1)
    history = _periods(max(1, (ticks - candidates // 100) // people + 1))
    with engine.begin() as conn:
        bulk = Bulk(conn)
        now = bulk.bind(tick.c.created_at, dt.datetime(2026, 7, 1, tzinfo=dt.UTC))
        for start in range(0, people, CHUNK):
            ids = range(start + 1, min(people, start + CHUNK) + 1)
            bulk.insert(
                person,
                ("id", "full_name", "name_key", "vital_status", "created_at"),
                [(i, "X", "x", "alive", now) for i in ids],
                ignore=False,
            )
            bulk.insert(
                enrollment,
                ENROLLMENT,
                [(prog, PERIOD, i, unit_a, 500_000, "approved", "bank", now) for i in ids],
                ignore=False,
            )
        made = 0
        rows: list[tuple[object, ...]] = []
        for i in range(1, people + 1):
            if i % 100 == 0:  # paid elsewhere this period
                rows.append((i, GROUP, PERIOD, unit_b, "ND20-TCXH", "registry", "active", now))
            for p in history:
                if made + len(rows) >= ticks:
                    break
                rows.append((i, GROUP, p, unit_a, "ND20-TCXH", "local", "active", now))
            if len(rows) >= CHUNK:
                made += bulk.insert(tick, TICK, rows, ignore=False)
                rows = []
        made += bulk.insert(tick, TICK, rows, ignore=False)
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
    return int(prog)


def timed(url: str, candidates: int, ticks: int) -> tuple[float, int]:
    """Screening as disbursement runs it: one set-based query, then the hits written as flags
    in bulk, in one transaction."""
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        prog = load(engine, candidates, ticks)
        started = time.perf_counter()
        with engine.begin() as conn:
            hits = screen.ticked_elsewhere(conn, prog, PERIOD, ["approved"])
            flagged = screen.flag_all(conn, hits, dt.datetime.now(dt.UTC))
        return time.perf_counter() - started, flagged
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candidates", type=int, default=1_000_000)
    parser.add_argument("--ticks", type=int, default=10_000_000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    candidates, ticks = (20_000, 200_000) if args.quick else (args.candidates, args.ticks)
    result: dict[str, object] = {"candidates": candidates, "ticks": ticks}
    with tempfile.TemporaryDirectory() as tmp:
        seconds, hits = timed(f"sqlite:///{tmp}/screen.db", candidates, ticks)
        print(f"sqlite: {seconds:.2f} s, {hits} flagged")
        result["sqlite_s"] = round(seconds, 2)
    name = f"ansinh_bench_screen_{os.getpid()}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        seconds, hits = timed(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", candidates, ticks)
        print(f"postgresql: {seconds:.2f} s, {hits} flagged")
        result["postgresql_s"] = round(seconds, 2)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    result["flagged"] = hits
    print(json.dumps(result))


if __name__ == "__main__":
    main()
