"""Signed bank callbacks (G2P Connect ``on-disburse``) posted over loopback to the gateway under
gunicorn (2 sync workers), on SQLite and on PostgreSQL, against the ceiling: a bare Flask
endpoint that only verifies the signature, measured in the same run.

    .venv/bin/python benchmarks/callbacks.py [--quick] [--runs 3] [--single N] [--batches M]

Phases, repeated ``--runs`` times and interleaved (so load from others hits all of them alike):
ceiling (bare verify, one item per request), gateway + SQLite (one item), gateway + PostgreSQL
(one item) and gateway + PostgreSQL (100-item batches). The gateway stores each message in its
inbox and answers ACK (``ANSINH_PAYMENTS_APPLY_ON_RECEIVE=false``); the inbox job then applies
what was stored — timed separately and printed as ``apply_items_per_s`` — and every item must
have become a confirmation of a real instruction: count in = count stored.

Medians over the runs; ``ratio`` is the median of the per-run ratios (each single-item rate
against the ceiling of the same run). Last line:
{"single_per_s", "ceiling_per_s", "ratio", "batch_items_per_s_postgresql", "p99_ms", "sent",
"stored"} — ``single_per_s`` and ``p99_ms`` are the single-item gateway on SQLite (the embedded
default); the PostgreSQL single-item figure is printed above it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import loadgen  # noqa: E402
from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402

from adapters import signing  # noqa: E402
from certs import pki  # noqa: E402
from gateway.db import migrate  # noqa: E402
from gateway.db.engine import make_engine  # noqa: E402
from gateway.db.tables import (  # noqa: E402
    admin_unit,
    confirmation,
    enrollment,
    inbox_message,
    payment_batch,
    payment_instruction,
    person,
    programme,
)
from gateway.refdata import admin_units, programmes  # noqa: E402

PG_ADMIN = os.environ.get("ANSINH_BENCH_PG", "postgresql+psycopg://127.0.0.1:5432/postgres")
CALLBACK = "/api/v1/payments/bank/on-disburse"
AMOUNT = 500_000
BANK_ID = "bank-sim"


# -- databases -------------------------------------------------------------------------------


def prepare(url: str) -> None:
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            admin_units.load(conn)
            programmes.seed(conn)
    finally:
        engine.dispose()


def seed_instructions(url: str, count: int, tag: str) -> list[str]:
    """``count`` people with an approved entitlement and a *sent* instruction each."""
    now = dt.datetime.now(dt.UTC)
    engine = make_engine(url)
    refs = [f"BN{tag}{i:08d}" for i in range(count)]
    with engine.begin() as conn:
        prog = conn.execute(select(programme.c.id).where(programme.c.code == "ND20-TCXH")).scalar()
        unit = conn.execute(select(admin_unit.c.id).limit(1)).scalar()
        batch = conn.execute(
            insert(payment_batch)
            .values(
                reference=f"bench-{tag}",
                channel="bank",
                programme_id=prog,
                period="2026-07",
                state="sent",
                total_count=count,
                total_amount=count * AMOUNT,
                actor="bench",
                created_at=now,
            )
            .returning(payment_batch.c.id)
        ).scalar_one()
        for start in range(0, count, 5000):
            part = range(start, min(count, start + 5000))
            people = [
                {
                    "pid_index": uuid.uuid4().bytes,
                    "full_name": f"Nguyen Van {i}",
                    "name_key": f"nguyen van {i}",
                    "vital_status": "alive",
                    "created_at": now,
                }
                for i in part
            ]
            person_ids = conn.execute(insert(person).returning(person.c.id), people).scalars()
            enrollments = [
                {
                    "programme_id": prog,
                    "period": "2026-07",
                    "person_id": pid,
                    "unit_id": unit,
                    "amount": AMOUNT,
                    "state": "approved",
                    "channel": "bank",
                    "created_at": now,
                }
                for pid in person_ids.all()
            ]
            ids = conn.execute(
                insert(enrollment).returning(enrollment.c.id, sort_by_parameter_order=True),
                enrollments,
            ).scalars()
            conn.execute(
                insert(payment_instruction),
                [
                    {
                        "enrollment_id": eid,
                        "batch_id": batch,
                        "attempt": 1,
                        "idempotency_key": f"bench:{refs[i]}",
                        "reference": refs[i],
                        "channel": "bank",
                        "amount": AMOUNT,
                        "state": "sent",
                        "created_at": now,
                        "state_changed_at": now,
                    }
                    for i, eid in zip(part, ids.all(), strict=True)
                ],
            )
    engine.dispose()
    return refs


def create_pg_database() -> tuple[str, Any]:
    name = f"ansinh_bench_{os.getpid()}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", (admin, name)


def drop_pg_database(handle: Any) -> None:
    admin, name = handle
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# -- messages --------------------------------------------------------------------------------


def signed_bodies(key: Any, refs: list[str], per_message: int, tag: str) -> list[bytes]:
    """One signed on-disburse callback per ``per_message`` references (built before the clock)."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    bodies = []
    for n, start in enumerate(range(0, len(refs), per_message)):
        items = [
            {
                "reference_id": ref,
                "status": "succ",
                "amount": f"{AMOUNT}.00",
                "currency_code": "VND",
                "timestamp": now,
            }
            for ref in refs[start : start + per_message]
        ]
        header = {
            "version": "1.0.0",
            "message_id": f"bench:{tag}:{n}",
            "message_ts": now,
            "action": "on-disburse",
            "sender_id": BANK_ID,
            "total_count": len(items),
            "completed_count": len(items),
        }
        message = {"transaction_id": f"bench-{tag}", "disbursements_status": items}
        envelope = signing.envelope(
            header, message, key=key, sender_id=BANK_ID, key_id="bank-sim-1"
        )
        bodies.append(json.dumps(envelope).encode())
    return bodies


# -- servers ---------------------------------------------------------------------------------


def gateway_env(work: Path, db_url: str, certs: Path, name: str) -> dict[str, str]:
    return {
        **os.environ,
        "ANSINH_ENV": "development",
        "ANSINH_DATA_DIR": str(work / f"data-{name}"),
        "ANSINH_DATABASE_URL": db_url,
        "ANSINH_CERTS_DIR": str(certs),
        "ANSINH_PAYMENTS_BACKEND": "bank_rest",
        "ANSINH_BANK_URL": "http://127.0.0.1:9",  # never called: only callbacks come in
        "ANSINH_BANK_ID": BANK_ID,
        "ANSINH_PAYMENTS_APPLY_ON_RECEIVE": "false",
        "ANSINH_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }


def start_gateway(work: Path, db_url: str, certs: Path, name: str) -> loadgen.Server:
    port = loadgen.free_port()
    argv = [sys.executable, "-m", "gateway.cli", "serve", "--workers", "2", "--port", str(port)]
    env = gateway_env(work, db_url, certs, name)
    server = loadgen.Server(argv, env, port, work / f"{name}.log")
    server.wait_ready()
    return server


def start_ceiling(work: Path, certs: Path) -> loadgen.Server:
    port = loadgen.free_port()
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "-w",
        "2",
        "-k",
        "sync",
        "-b",
        f"127.0.0.1:{port}",
        "--chdir",
        str(ROOT / "benchmarks"),
        *loadgen.gunicorn_flags(),
        "bare_verify:create_app()",
    ]
    env = {
        **os.environ,
        "BENCH_BANK_KEYS": str(certs / "signing" / "keys.json"),
        "PYTHONPATH": str(ROOT),
    }
    server = loadgen.Server(argv, env, port, work / "ceiling.log")
    server.wait_ready()
    return server


# -- applying and counting -------------------------------------------------------------------


def apply_inbox(work: Path, db_url: str, certs: Path, name: str) -> tuple[int, float]:
    """Run the inbox job until nothing is pending; items applied and seconds taken."""
    from gateway.bootstrap import build_services
    from gateway.services import inbound
    from gateway.settings import Settings

    svc = build_services(Settings.from_env(gateway_env(work, db_url, certs, name)))
    items, started = 0, time.perf_counter()
    try:
        while True:
            counts = inbound.apply_pending(svc, limit=500)
            items += counts["items"]
            if counts["applied"] == 0:  # nothing left (or only what keeps failing)
                break
    finally:
        svc.close()
    return items, time.perf_counter() - started


def stored_items(db_url: str, tag: str) -> tuple[int, int]:
    """(messages stored, confirmations made from them) for one phase."""
    engine = make_engine(db_url)
    with engine.connect() as conn:
        messages = conn.execute(
            select(func.count()).where(inbox_message.c.message_id.like(f"bench:{tag}:%"))
        ).scalar_one()
        settled = conn.execute(
            select(func.count())
            .select_from(confirmation.join(inbox_message))
            .where(
                inbox_message.c.message_id.like(f"bench:{tag}:%"),
                confirmation.c.apply_result == "settled",
            )
        ).scalar_one()
    engine.dispose()
    return int(messages), int(settled)


# -- the run ---------------------------------------------------------------------------------


def phase(
    name: str, server: loadgen.Server, path: str, bodies: list[bytes], concurrency: int, per: int
) -> dict[str, Any]:
    result = loadgen.post_all(server.port, path, bodies, concurrency)
    items = result.ok * per
    line = {
        "phase": name,
        "requests": result.requests,
        "ok": result.ok,
        "statuses": result.statuses,
        "requests_per_s": round(result.per_s, 1),
        "items_per_s": round(items / result.seconds, 1),
        "p50_ms": result.percentile_ms(50),
        "p99_ms": result.percentile_ms(99),
    }
    print(json.dumps(line), flush=True)
    return line


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the servers on TERM too
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes, one run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--single", type=int, default=5000, help="single-item callbacks per run")
    parser.add_argument("--batches", type=int, default=100, help="100-item callbacks per run")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    if args.quick:
        args.runs, args.single, args.batches = 1, 1000, 20
    with tempfile.TemporaryDirectory(prefix="ansinh-bench-") as tmp:
        run(Path(tmp), args)


def run(work: Path, args: argparse.Namespace) -> None:
    certs = work / "certs"
    pki.init(certs)
    key = signing.load_signing_key(certs, "bank-sim-1")
    sqlite_url = f"sqlite:///{work / 'bench.db'}"
    pg_url, pg_handle = create_pg_database()
    servers: list[loadgen.Server] = []
    try:
        prepare(sqlite_url)
        prepare(pg_url)
        n, m = args.single, args.batches
        lite_refs = seed_instructions(sqlite_url, n * args.runs, "L")
        pg_refs = seed_instructions(pg_url, n * args.runs, "P")
        batch_refs = seed_instructions(pg_url, m * 100 * args.runs, "B")
        ceiling = start_ceiling(work, certs)
        lite = start_gateway(work, sqlite_url, certs, "sqlite")
        pg = start_gateway(work, pg_url, certs, "postgresql")
        servers = [ceiling, lite, pg]
        results: dict[str, list[dict[str, Any]]] = {}
        sent = 0
        for r in range(args.runs):
            plan = [
                ("ceiling", ceiling, "/verify", [f"ceil{i}" for i in range(n)], 1, None),
                ("sqlite_single", lite, CALLBACK, lite_refs[r * n : (r + 1) * n], 1, sqlite_url),
                ("postgresql_single", pg, CALLBACK, pg_refs[r * n : (r + 1) * n], 1, pg_url),
                (
                    "postgresql_batch100",
                    pg,
                    CALLBACK,
                    batch_refs[r * m * 100 : (r + 1) * m * 100],
                    100,
                    pg_url,
                ),
            ]
            for name, server, path, refs, per, _url in plan:
                bodies = signed_bodies(key, refs, per, f"{name}{r}")
                line = phase(name, server, path, bodies, args.concurrency, per)
                results.setdefault(name, []).append(line)
                if name != "ceiling":
                    sent += line["ok"] * per
        stored = 0
        for server_name, url, phases in (
            ("sqlite", sqlite_url, ("sqlite_single",)),
            ("postgresql", pg_url, ("postgresql_single", "postgresql_batch100")),
        ):
            items, seconds = apply_inbox(work, url, certs, server_name)
            for name in phases:
                for r in range(args.runs):
                    stored += stored_items(url, f"{name}{r}")[1]
            line = {
                "phase": f"apply_{server_name}",
                "items": items,
                "seconds": round(seconds, 2),
                "apply_items_per_s": round(items / seconds, 1) if seconds else 0,
            }
            print(json.dumps(line), flush=True)
        report(results, sent, stored)
    finally:
        for server in servers:
            server.stop()
        drop_pg_database(pg_handle)


def median(results: dict[str, list[dict[str, Any]]], name: str, key: str) -> float:
    return float(statistics.median(line[key] for line in results[name]))


def ratio(results: dict[str, list[dict[str, Any]]], name: str) -> float:
    """Median of the per-run ratios: each against the ceiling measured in the same run."""
    pairs = zip(results[name], results["ceiling"], strict=True)
    return float(statistics.median(a["items_per_s"] / c["requests_per_s"] for a, c in pairs))


def report(results: dict[str, list[dict[str, Any]]], sent: int, stored: int) -> None:
    ceiling = median(results, "ceiling", "requests_per_s")
    single = median(results, "sqlite_single", "items_per_s")
    pg_single = median(results, "postgresql_single", "items_per_s")
    batch = median(results, "postgresql_batch100", "items_per_s")
    print(
        f"single item, SQLite: {single:.0f}/s ({ratio(results, 'sqlite_single'):.2f} of the "
        f"ceiling); PostgreSQL: {pg_single:.0f}/s ({ratio(results, 'postgresql_single'):.2f}); "
        f"ceiling (bare verify): {ceiling:.0f}/s; 100-item batches on PostgreSQL: {batch:.0f} "
        f"items/s (medians of {len(results['ceiling'])} runs; ratios per run, then the median)"
    )
    print(
        json.dumps(
            {
                "single_per_s": round(single, 1),
                "ceiling_per_s": round(ceiling, 1),
                "ratio": round(ratio(results, "sqlite_single"), 3),
                "batch_items_per_s_postgresql": round(batch, 1),
                "p99_ms": median(results, "sqlite_single", "p99_ms"),
                "sent": sent,
                "stored": stored,
            }
        )
    )


if __name__ == "__main__":
    main()
