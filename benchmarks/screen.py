"""Screening at scale: candidates against the tick ledger, set-based SQL, SQLite and PostgreSQL.

    .venv/bin/python benchmarks/screen.py [--quick] [--candidates N] [--ticks M]

Builds a fresh database per backend with the real migrations (default 1,000,000 candidate
enrollments and 10,000,000 ticks; ``--quick`` 20,000 and 200,000), 1% of candidates already
ticked by another locality this period, then times ``gateway.services.screen.ticked_elsewhere``
— one SQL join, only hits return to Python. Loading is not timed.
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

from sqlalchemy import create_engine, insert, select, text

from gateway.db import migrate
from gateway.db.engine import make_engine
from gateway.db.tables import admin_unit, enrollment, person, programme, tick
from gateway.refdata import admin_units, programmes
from gateway.services import screen

PG_ADMIN = os.environ.get("ANSINH_TEST_PG", "postgresql+psycopg://127.0.0.1:5432/test")
PERIOD = "2026-07"
CHUNK = 20_000


def _periods(n: int) -> list[str]:
    out, year, month = [], 2026, 6
    for _ in range(n):
        out.append(f"{year}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out


def load(engine: object, candidates: int, ticks: int) -> int:
    eng = engine  # type: ignore[assignment]
    with eng.begin() as conn:  # type: ignore[attr-defined]
        admin_units.load(conn)
        programmes.seed(conn)
        prog = conn.execute(select(programme.c.id).where(programme.c.code == "ND20-TCXH")).scalar()
        unit_a, unit_b = conn.execute(
            select(admin_unit.c.id).where(admin_unit.c.scheme == "2025-07").limit(2)
        ).scalars()
    people = max(candidates, 1)
    history = _periods(max(1, (ticks - candidates // 100) // people + 1))
    now = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
    with eng.begin() as conn:  # type: ignore[attr-defined]
        for start in range(0, people, CHUNK):
            ids = range(start + 1, min(people, start + CHUNK) + 1)
            conn.execute(
                insert(person),
                [
                    {
                        "id": i,
                        "full_name": "X",
                        "name_key": "x",
                        "vital_status": "alive",
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
            conn.execute(
                insert(enrollment),
                [
                    {
                        "programme_id": prog,
                        "period": PERIOD,
                        "person_id": i,
                        "unit_id": unit_a,
                        "amount": 500_000,
                        "state": "approved",
                        "channel": "bank",
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
        made = 0
        rows: list[dict[str, object]] = []
        for i in range(1, people + 1):
            if i % 100 == 0:  # paid elsewhere this period
                rows.append(
                    {
                        "person_id": i,
                        "exclusion_group": "tcxh-hang-thang",
                        "period": PERIOD,
                        "unit_id": unit_b,
                        "programme_code": "ND20-TCXH",
                        "source": "registry",
                        "state": "active",
                        "created_at": now,
                    }
                )
            for p in history:
                if made + len(rows) >= ticks:
                    break
                rows.append(
                    {
                        "person_id": i,
                        "exclusion_group": "tcxh-hang-thang",
                        "period": p,
                        "unit_id": unit_a,
                        "programme_code": "ND20-TCXH",
                        "source": "local",
                        "state": "active",
                        "created_at": now,
                    }
                )
            if len(rows) >= CHUNK:
                conn.execute(insert(tick), rows)
                made += len(rows)
                rows = []
        if rows:
            conn.execute(insert(tick), rows)
            made += len(rows)
    with eng.connect() as conn:  # type: ignore[attr-defined]
        conn.execute(text("ANALYZE"))
        conn.commit()
    return int(prog)


def timed(url: str, candidates: int, ticks: int) -> tuple[float, int]:
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        prog = load(engine, candidates, ticks)
        started = time.perf_counter()
        with engine.connect() as conn:
            hits = screen.ticked_elsewhere(conn, prog, PERIOD, ["approved"])
        return time.perf_counter() - started, len(hits)
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
