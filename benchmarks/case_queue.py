"""The case-queue page with 500,000 open cases on SQLite: server time of a filtered first page.

    .venv/bin/python benchmarks/case_queue.py [--quick] [--cases N] [--runs R]

Cases are spread over the communes of three provinces, twelve types, four programmes and 180
days. A province officer opens ``/cases?type=returned_payment`` (the filtered first page,
rendered HTML through the Flask app: session, scope, query, template); the reference is the
bare query (``casequeue.queue_page``) in the same run. The same filtered first page through the
API (``GET /api/v1/cases?type=returned_payment``, bearer token, JSON) and through
``cases.list_cases`` (the service behind the API and the CLI) is measured too. Medians of R runs.

Last line: {"first_page_ms": …, "cases": …, "bare_query_ms": …, "ratio": …, "target_ms": 200,
"api_first_page_ms": …, "list_cases_ms": …, …}
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

from sqlalchemy import insert, select

from gateway import create_app
from gateway.bootstrap import build_services
from gateway.db.tables import admin_unit, mismatch_case, programme
from gateway.domain.states import MismatchType
from gateway.security.principal import Actor
from gateway.services import accounts, setup
from gateway.services import cases as case_service
from gateway.services.workspace import casequeue
from gateway.settings import Settings


def fill(svc, cases: int) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(5)
    now = dt.datetime.now(dt.UTC)
    with svc.db.read() as conn:
        communes = list(
            conn.execute(
                select(admin_unit.c.id).where(
                    admin_unit.c.scheme == "2025-07",
                    admin_unit.c.level == "commune",
                    admin_unit.c.province_code.in_(("79", "01", "48")),
                )
            ).scalars()
        )
        programmes = list(conn.execute(select(programme.c.id).limit(4)).scalars())
    types = [m.value for m in MismatchType]
    batch = []
    with svc.db.begin() as conn:
        for i in range(cases):
            batch.append(
                {
                    "type": types[i % len(types)],
                    "dedup_key": f"bench:{i}",
                    "status": "open",
                    "unit_id": rng.choice(communes),
                    "programme_id": rng.choice(programmes),
                    "period": "2026-07",
                    "evidence": {"amount": 500_000},
                    "opened_at": now - dt.timedelta(seconds=rng.randrange(180 * 86400)),
                }
            )
            if len(batch) == 10_000:
                conn.execute(insert(mismatch_case), batch)
                batch = []
        if batch:
            conn.execute(insert(mismatch_case), batch)
        conn.exec_driver_sql("ANALYZE")


def median_ms(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=500_000)
    parser.add_argument("--quick", action="store_true", help="20,000 cases")
    parser.add_argument("--runs", type=int, default=25)
    args = parser.parse_args()
    cases = 20_000 if args.quick else args.cases
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(env="test", data_dir=Path(tmp), log_level="WARNING")
        svc = build_services(settings)
        setup.prepare_database(svc)
        started = time.perf_counter()
        fill(svc, cases)
        print(f"{cases} open cases written in {time.perf_counter() - started:.1f} s")
        with svc.db.begin() as conn:
            uid = accounts.add_user(
                conn,
                Actor.system("bench"),
                username="tinh79",
                display_name="bench",
                role="province_officer",
                unit_scheme="2025-07",
                unit_code="79",
                unit_level="province",
                now=svc.clock(),
            )
            officer = accounts.actor_for_user(conn, uid)
            token = accounts.issue_token(
                conn, Actor.system("bench"), "tinh79", "bench", now=svc.clock()
            )
        app = create_app(svc.settings, services=svc)
        client = app.test_client()
        with client.session_transaction() as session:
            session["uid"], session["seen"] = uid, int(time.time()) + 3600
        url = "/cases?type=returned_payment"

        def page() -> None:
            answer = client.get(url)
            assert answer.status_code == 200 and "case-table" in answer.get_data(as_text=True)

        filters = casequeue.QueueFilter(type="returned_payment")

        def bare() -> None:
            with svc.db.read() as conn:
                found = casequeue.queue_page(conn, officer, filters, now=svc.clock())
            assert len(found.rows) == 50

        def national_unfiltered() -> None:
            with svc.db.read() as conn:
                casequeue.queue_page(conn, Actor.system(), casequeue.QueueFilter(), now=svc.clock())

        def api() -> None:
            answer = client.get(
                "/api/v1/cases?type=returned_payment",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.status_code == 200 and len(answer.get_json()) == 50

        def service() -> None:
            with svc.db.read() as conn:
                found = case_service.list_cases(
                    conn, officer, case_service.CaseFilter(type="returned_payment"), now=svc.clock()
                )
            assert len(found.rows) == 50

        first_page = median_ms(page, args.runs)
        api_ms = median_ms(api, args.runs)
        list_ms = median_ms(service, args.runs)
        bare_ms = median_ms(bare, args.runs)
        national_ms = median_ms(national_unfiltered, args.runs)
        svc.close()
    print(f"filtered first page {first_page} ms (bare query {bare_ms} ms)")
    print(
        json.dumps(
            {
                "first_page_ms": first_page,
                "cases": cases,
                "bare_query_ms": bare_ms,
                "ratio": round(first_page / bare_ms, 2) if bare_ms else None,
                "national_unfiltered_query_ms": national_ms,
                "api_first_page_ms": api_ms,
                "list_cases_ms": list_ms,
                "target_ms": 200,
                "database": "sqlite",
            }
        )
    )


if __name__ == "__main__":
    main()
