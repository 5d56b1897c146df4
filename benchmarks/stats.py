"""Statistics snapshot at scale: time to take it, and the dashboard's read latency.

    .venv/bin/python benchmarks/stats.py [--quick] [--enrollments N] [--db URL] [--runs R]

Generates N enrollments (default 1,000,000; --quick 50,000) over the communes of four provinces
(2025 scheme) and one legacy province, three programmes and two periods, with persons, registry
answers, payee accounts, settled instructions and open cases, then takes the snapshot twice
(the second replaces the first). References measured in the same run on the same data: one bare
GROUP BY scan of the enrollments (the floor of any commune-level computation) and the live
dashboard computation the snapshot replaces. Read latencies are medians of R runs.

Last line: {"enrollments": N, "db": …, "snapshot_seconds": …, "bare_scan_seconds": …,
"ratio_to_bare_scan": …, "read_ms": …, "live_ms": …, "read_speedup": …, "rows": …}
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text

from gateway.bootstrap import build_services
from gateway.db.tables import (
    admin_unit,
    enrollment,
    mismatch_case,
    payee_account,
    payment_instruction,
    person,
    programme,
    registry_verification,
)
from gateway.security.principal import Actor
from gateway.services import setup, stats
from gateway.services.workspace import dashboard
from gateway.settings import Settings

BATCH = 20_000
PERIODS = ("2026-07", "2026-08")
NOW = dt.datetime(2026, 8, 20, tzinfo=dt.UTC)


def _flush(conn: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(table), rows)
        rows.clear()


def _units(conn: Any) -> list[int]:
    current = select(admin_unit.c.id).where(
        admin_unit.c.scheme == "2025-07",
        admin_unit.c.level == "commune",
        admin_unit.c.province_code.in_(("79", "01", "48", "92")),
    )
    legacy = select(admin_unit.c.id).where(
        admin_unit.c.scheme == "legacy63",
        admin_unit.c.level == "commune",
        admin_unit.c.province_code == "74",
    )
    return [*conn.execute(current).scalars(), *conn.execute(legacy).scalars()]


def fill(svc: Any, n: int) -> None:
    rng = random.Random(11)
    with svc.db.begin() as conn:
        communes = _units(conn)
        progs = list(
            conn.execute(select(programme.c.id).order_by(programme.c.id).limit(3)).scalars()
        )
        people = n // len(PERIODS)
        rows: list[dict[str, Any]] = []
        checks: list[dict[str, Any]] = []
        accounts: list[dict[str, Any]] = []
        home: dict[int, int] = {}
        for pid in range(1, people + 1):
            rows.append(
                {
                    "id": pid,
                    "pid_index": pid.to_bytes(16, "big"),
                    "full_name": "x",
                    "name_key": "x",
                    "vital_status": "deceased" if rng.random() < 0.01 else "alive",
                    "created_at": NOW,
                }
            )
            home[pid] = rng.choice(communes)
            r = rng.random()
            outcomes = (
                ["match"]
                if r < 0.85
                else ["mismatch", "match"]
                if r < 0.9
                else ["mismatch"]
                if r < 0.95
                else ["not_found"]
                if r < 0.97
                else []
            )
            for i, outcome in enumerate(outcomes):
                checks.append(
                    {
                        "person_id": pid,
                        "outcome": outcome,
                        "fields": {},
                        "source": "bench",
                        "checked_at": NOW - dt.timedelta(days=len(outcomes) - i),
                    }
                )
            if pid % 2 == 0:
                accounts.append(
                    {
                        "id": pid,
                        "person_id": pid,
                        "bin": "970436",
                        "number_index": pid.to_bytes(16, "big"),
                        "number_enc": b"x",
                        "status": "verified" if rng.random() < 0.9 else "unverified",
                        "created_at": NOW,
                    }
                )
            if len(rows) >= BATCH:
                _flush(conn, person, rows)
                _flush(conn, registry_verification, checks)
                _flush(conn, payee_account, accounts)
        _flush(conn, person, rows)
        _flush(conn, registry_verification, checks)
        _flush(conn, payee_account, accounts)
        eid = 0
        instructions: list[dict[str, Any]] = []
        cases: list[dict[str, Any]] = []
        for pid in range(1, people + 1):
            prog = progs[pid % len(progs)]
            for period in PERIODS:
                eid += 1
                r = rng.random()
                state = (
                    "paid"
                    if r < 0.6
                    else "approved"
                    if r < 0.9
                    else "verified"
                    if r < 0.95
                    else "proposed"
                    if r < 0.98
                    else "suspended"
                )
                bank = pid % 2 == 0
                rows.append(
                    {
                        "id": eid,
                        "programme_id": prog,
                        "period": period,
                        "person_id": pid,
                        "unit_id": home[pid],
                        "amount": 500_000,
                        "state": state,
                        "channel": "bank" if bank else "postoffice",
                        "payee_account_id": pid if bank else None,
                        "created_at": NOW,
                    }
                )
                if state == "paid":
                    instructions.append(
                        {
                            "enrollment_id": eid,
                            "attempt": 1,
                            "idempotency_key": f"k{eid}",
                            "reference": f"R{eid}",
                            "channel": "bank" if bank else "postoffice",
                            "amount": 500_000,
                            "state": "settled",
                            "created_at": NOW,
                        }
                    )
                elif state == "approved" and r < 0.62:
                    cases.append(
                        {
                            "type": "approved_unpaid",
                            "dedup_key": f"b{eid}",
                            "status": "open",
                            "unit_id": home[pid],
                            "programme_id": prog,
                            "period": period,
                            "evidence": {},
                            "opened_at": NOW,
                        }
                    )
                if len(rows) >= BATCH:
                    _flush(conn, enrollment, rows)
                    _flush(conn, payment_instruction, instructions)
                    _flush(conn, mismatch_case, cases)
        _flush(conn, enrollment, rows)
        _flush(conn, payment_instruction, instructions)
        _flush(conn, mismatch_case, cases)
    with svc.db.engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()


def seconds(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def median_ms(fn: Any, runs: int) -> float:
    fn()
    return round(statistics.median(seconds(fn) * 1000 for _ in range(runs)), 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--enrollments", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="50,000 enrollments")
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    n = 50_000 if args.quick else args.enrollments
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            env="test", data_dir=Path(tmp), log_level="WARNING", database_url=args.db
        )
        svc = build_services(settings)
        setup.prepare_database(svc)
        took = seconds(lambda: fill(svc, n))
        print(f"{n:,} enrollments written in {took:.1f} s")
        bare = enrollment.c
        scan = select(
            bare.unit_id, bare.programme_id, bare.period, func.count(), func.sum(bare.amount)
        ).group_by(bare.unit_id, bare.programme_id, bare.period)

        def bare_scan() -> None:
            with svc.db.read() as conn:
                conn.execute(scan).all()

        bare_s = min(seconds(bare_scan) for _ in range(2))
        counts: dict[str, Any] = {}

        def take() -> None:
            counts.update(stats.snapshot(svc, NOW))

        first = seconds(take)
        again = seconds(take)  # the same day: replaces
        print(f"snapshot {first:.2f} s, re-run {again:.2f} s, bare scan {bare_s:.2f} s; {counts}")
        system = Actor.system("bench")
        with svc.db.read() as conn:
            hcm = conn.execute(
                select(admin_unit.c.id).where(
                    admin_unit.c.scheme == "2025-07",
                    admin_unit.c.level == "province",
                    admin_unit.c.code == "79",
                )
            ).scalar_one()

        def read(unit: int | None) -> Any:
            def run() -> None:
                with svc.db.read() as conn:
                    figures = dashboard.figures(conn, system, unit_id=unit)
                assert figures.source == "snapshot"

            return run

        def live(unit: int | None) -> Any:
            def run() -> None:
                with svc.db.read() as conn:
                    dashboard._live(conn, system, unit_id=unit, programme_id=None, period=None)

            return run

        read_ms = median_ms(read(None), args.runs)
        read_province_ms = median_ms(read(hcm), args.runs)
        live_ms = median_ms(live(None), max(3, args.runs // 5))
        live_province_ms = median_ms(live(hcm), max(3, args.runs // 5))
        db = svc.db.engine.dialect.name
        svc.close()
    snapshot_s = round(min(first, again), 2)
    print(
        f"read national {read_ms} ms (live {live_ms} ms); "
        f"province {read_province_ms} ms (live {live_province_ms} ms)"
    )
    print(
        json.dumps(
            {
                "enrollments": n,
                "db": db,
                "snapshot_seconds": snapshot_s,
                "snapshot_first_seconds": round(first, 2),
                "snapshot_rerun_seconds": round(again, 2),
                "bare_scan_seconds": round(bare_s, 2),
                "ratio_to_bare_scan": round(snapshot_s / bare_s, 2) if bare_s else None,
                "read_ms": read_ms,
                "read_province_ms": read_province_ms,
                "live_ms": live_ms,
                "live_province_ms": live_province_ms,
                "read_speedup": round(live_ms / read_ms, 1) if read_ms else None,
                "rows": counts.get("rows"),
                "case_rows": counts.get("case_rows"),
            }
        )
    )


if __name__ == "__main__":
    main()
