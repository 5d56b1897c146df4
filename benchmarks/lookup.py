"""Public status lookup: server time of one POST /cong-khai/tra-cuu on SQLite.

    .venv/bin/python benchmarks/lookup.py [--quick] [--people N] [--runs R]

N persons (personal IDs encrypted, blind-indexed) with one entitlement each. Each run posts a
form (personal ID + birth date, CSRF token) through the Flask app: rate-limit write, blind-index
lookup, birth-date check, entitlement query, template. Measured for a right pair, a wrong birth
date and an unknown ID (they must cost the same: no timing oracle). The reference is the bare
service call ``lookup.lookup`` in the same run.

Last line: {"lookup_ms": …, "miss_ms": …, "unknown_ms": …, "bare_lookup_ms": …, "ratio": …,
"people": …, "target_ms": 50}
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import re
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, select

from gateway import create_app
from gateway.bootstrap import build_services
from gateway.db.tables import admin_unit, enrollment, person, programme
from gateway.security.vault import Purpose
from gateway.services import lookup, setup
from gateway.settings import Settings


def pid_of(i: int) -> str:
    return f"079{i % 2}{50 + i % 40:02d}{i:06d}"


def fill(svc, people: int) -> None:  # type: ignore[no-untyped-def]
    now = dt.datetime.now(dt.UTC)
    with svc.db.begin() as conn:
        unit = conn.execute(
            select(admin_unit.c.id).where(
                admin_unit.c.scheme == "2025-07", admin_unit.c.level == "commune"
            )
        ).scalar()
        prog = conn.execute(select(programme.c.id).limit(1)).scalar()
        for start in range(0, people, 5000):
            rows = []
            for i in range(start, min(people, start + 5000)):
                index, enc = svc.vault.protect(pid_of(i), Purpose.PID)
                rows.append(
                    {
                        "id": i + 1,
                        "pid_index": index,
                        "pid_enc": enc,
                        "full_name": "Nguyễn Văn An",
                        "name_key": "nguyen van an",
                        "birth_year": 1950 + i % 40,
                        "birth_month": 1 + i % 12,
                        "birth_day": 1 + i % 28,
                        "vital_status": "alive",
                        "created_at": now,
                    }
                )
            conn.execute(insert(person), rows)
            conn.execute(
                insert(enrollment),
                [
                    {
                        "programme_id": prog,
                        "period": "2026-07",
                        "person_id": r["id"],
                        "unit_id": unit,
                        "amount": 500_000,
                        "state": "approved",
                        "channel": "postoffice",
                        "created_at": now,
                    }
                    for r in rows
                ],
            )
        conn.exec_driver_sql("ANALYZE")


def birth_of(i: int) -> str:
    return f"{1 + i % 28:02d}/{1 + i % 12:02d}/{1950 + i % 40}"


def median_ms(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    fn(0)
    times = []
    for n in range(1, runs + 1):
        started = time.perf_counter()
        fn(n)
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=500_000)
    parser.add_argument("--quick", action="store_true", help="20,000 people")
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    people = 20_000 if args.quick else args.people
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(env="test", data_dir=Path(tmp), log_level="WARNING")
        settings = settings.with_(
            web=dataclasses.replace(settings.web, lookup_rate_limit=1_000_000)
        )
        svc = build_services(settings)
        setup.prepare_database(svc)
        started = time.perf_counter()
        fill(svc, people)
        print(f"{people} people written in {time.perf_counter() - started:.1f} s")
        client = create_app(svc.settings, services=svc).test_client()
        page = client.get("/cong-khai/tra-cuu").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)  # type: ignore[union-attr]

        def post(pid: str, birth: str, expect: str) -> None:
            answer = client.post(
                "/cong-khai/tra-cuu",
                data={"csrf_token": token, "personal_id": pid, "birth_date": birth},
            )
            assert answer.status_code == 200 and expect in answer.get_data(as_text=True)

        step = max(1, people // (args.runs + 1))
        hit = median_ms(lambda n: post(pid_of(n * step), birth_of(n * step), "500.000"), args.runs)
        miss = median_ms(
            lambda n: post(pid_of(n * step), "01/01/1900", "Không tìm thấy"), args.runs
        )
        unknown = median_ms(
            lambda n: post(f"0791{n:08d}", birth_of(n), "Không tìm thấy"), args.runs
        )
        bare = median_ms(
            lambda n: lookup.lookup(svc, pid_of(n * step), birth_of(n * step)), args.runs
        )
        svc.close()
    print(f"lookup {hit} ms (wrong pair {miss} ms, unknown {unknown} ms; bare service {bare} ms)")
    print(
        json.dumps(
            {
                "lookup_ms": hit,
                "miss_ms": miss,
                "unknown_ms": unknown,
                "bare_lookup_ms": bare,
                "ratio": round(hit / bare, 2) if bare else None,
                "people": people,
                "target_ms": 50,
                "database": "sqlite",
            }
        )
    )


if __name__ == "__main__":
    main()
