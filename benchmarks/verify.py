"""Bulk registry verification through the gateway, against the simulator on loopback.

    .venv/bin/python benchmarks/verify.py [--quick] [--people N] [--rss-people M]

Measured in one run, on one simulator process (werkzeug, threaded, SQLite population):

* ceiling_per_s — the simulator's own rate: a minimal client (http.client, persistent
  connections, pre-built ``verifyPersons`` envelopes, the same batch size and concurrency)
  asks for the same persons; nothing else happens per person.
* batch_per_s — ``ansinh registry verify`` semantics (``verify.verify_pending``) in a separate
  gateway process on SQLite: read, decrypt, SOAP batch call, compare, record, transition.
* single_per_s — the same with a mapping that has no batch operation (one lookup per person).
* peak_rss_mb — peak RSS of the gateway process verifying ``--rss-people`` persons (1,000,000
  by default); memory must not grow with the population.

Last line: {"batch_per_s", "single_per_s", "ceiling_per_s", "ratio", "peak_rss_mb", …}.
Targets: ratio ≥ 0.8, single ≥ 1,000/s, peak RSS ≤ 300 MB for 1,000,000 persons.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SEED = 11
NS = "urn:vn:ansinh:registry:sim:v1"
KEYS = {
    "ANSINH_SECRET_KEY": "bench",
    "ANSINH_PII_KEY": "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=",
    "ANSINH_BLIND_INDEX_KEY": "aWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWk=",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the simulator -----------------------------------------------------------------------------


def start_simulator(work: Path, people: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "ANSINH_DATA_DIR": str(work), "ANSINH_LOG_LEVEL": "WARNING"}
    cmd = [
        sys.executable,
        "-m",
        "gateway.cli",
        "simulate",
        "registry",
        "--port",
        str(port),
        "--people",
        str(people),
        "--seed",
        str(SEED),
        "--db",
        str(work / "registry-sim.db"),
    ]
    log = (work / "simulator.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"simulator died; see {work / 'simulator.log'}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return proc, url
        except OSError:
            time.sleep(0.5)
    raise SystemExit("simulator did not start")


def ceiling(port: int, people: list[Any], batch: int, concurrency: int) -> float:
    """Persons per second the simulator answers to a client that does nothing else (the same
    requests the gateway sends, built beforehand)."""
    bodies = [_envelope(people[i : i + batch]) for i in range(0, len(people), batch)]
    return len(people) / _post_all(port, bodies, concurrency)


def single_ceiling(port: int, people: list[Any], concurrency: int) -> float:
    """The same for one ``lookupPerson`` call per person."""
    bodies = [
        (
            '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap='
            f'"http://schemas.xmlsoap.org/soap/envelope/" xmlns:r="{NS}"><soap:Body>'
            f"<r:lookupPerson><r:personalId>{p.pid}</r:personalId></r:lookupPerson>"
            "</soap:Body></soap:Envelope>"
        ).encode()
        for p in people
    ]
    return len(people) / _post_all(port, bodies, concurrency)


def _post_all(port: int, bodies: list[bytes], concurrency: int) -> float:
    """Seconds to post every body over ``concurrency`` keep-alive connections."""
    queue = list(reversed(bodies))
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
        while True:
            with lock:
                if not queue:
                    return
                body = queue.pop()
            conn.request("POST", "/soap", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            assert response.status == 200

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def _envelope(people: list[Any]) -> bytes:
    items = "".join(
        f"<r:item><r:ref>{i}</r:ref><r:personalId>{p.pid}</r:personalId>"
        f"<r:fullName>{p.full_name}</r:fullName><r:birthDate>{p.birth.iso()}</r:birthDate>"
        f"<r:gender>{p.gender}</r:gender></r:item>"
        for i, p in enumerate(people)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap='
        f'"http://schemas.xmlsoap.org/soap/envelope/" xmlns:r="{NS}"><soap:Body>'
        f"<r:verifyPersons>{items}</r:verifyPersons></soap:Body></soap:Envelope>"
    ).encode()


# -- the gateway's database --------------------------------------------------------------------


def build_gateway_db(path: Path, people: int, population: int) -> list[Any]:
    """The first ``people`` of the simulator's population (same seed and size, so the same
    persons) with proposed enrollments, written with Core bulk inserts (not measured)."""
    import base64

    from sqlalchemy import insert, select

    from adapters.registry.simulator.store import generated_people
    from gateway.db import migrate
    from gateway.db.engine import make_engine
    from gateway.db.tables import admin_unit, enrollment, person, programme
    from gateway.domain.names import fold
    from gateway.refdata import admin_units, programmes
    from gateway.security.vault import PiiVault, Purpose

    vault = PiiVault.single(
        base64.b64decode(KEYS["ANSINH_PII_KEY"]), base64.b64decode(KEYS["ANSINH_BLIND_INDEX_KEY"])
    )
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with engine.begin() as conn:
        admin_units.load(conn)
        programmes.seed(conn)
        prog = conn.execute(select(programme.c.id).where(programme.c.code == "ND20-TCXH")).scalar()
        unit = conn.execute(
            select(admin_unit.c.id).where(
                admin_unit.c.scheme == "2025-07", admin_unit.c.level == "commune"
            )
        ).scalar()
    sample: list[Any] = []
    rows_p: list[dict[str, Any]] = []
    rows_e: list[dict[str, Any]] = []
    now = __import__("datetime").datetime.now(__import__("datetime").UTC)

    def flush() -> None:
        with engine.begin() as conn:
            conn.execute(insert(person), rows_p)
            conn.execute(insert(enrollment), rows_e)
        rows_p.clear()
        rows_e.clear()

    for i, p in enumerate(generated_people(population, SEED), start=1):
        if i > people:
            break
        if len(sample) < 200_000:
            sample.append(p)
        index, enc = vault.protect(p.pid, Purpose.PID)
        rows_p.append(
            {
                "id": i,
                "pid_index": index,
                "pid_enc": enc,
                "full_name": p.full_name,
                "name_key": fold(p.full_name),
                "birth_year": p.birth.year if p.birth else None,
                "birth_month": p.birth.month if p.birth else None,
                "birth_day": p.birth.day if p.birth else None,
                "gender": p.gender,
                "vital_status": "unknown",
                "created_at": now,
            }
        )
        rows_e.append(
            {
                "id": i,
                "programme_id": prog,
                "period": "2026-07",
                "person_id": i,
                "unit_id": unit,
                "amount": 500_000,
                "state": "proposed",
                "channel": "postoffice",
                "created_at": now,
            }
        )
        if len(rows_p) >= 20_000:
            flush()
    if rows_p:
        flush()
    engine.dispose()
    return sample


# -- the gateway process -------------------------------------------------------------------------


def run_gateway(
    db: Path, url: str, mapping: str, batch: int, concurrency: int, work: Path
) -> dict[str, Any]:
    env = {
        **os.environ,
        **KEYS,
        "ANSINH_ENV": "test",
        "ANSINH_DATA_DIR": str(work),
        "ANSINH_DATABASE_URL": f"sqlite:///{db}",
        "ANSINH_REGISTRY_BACKEND": "soap",
        "ANSINH_REGISTRY_URL": f"{url}/soap",
        "ANSINH_REGISTRY_MAPPING": mapping,
        "ANSINH_REGISTRY_BATCH_SIZE": str(batch),
        "ANSINH_REGISTRY_VERIFY_CONCURRENCY": str(concurrency),
        "ANSINH_HTTP_READ_TIMEOUT": "60",
        "ANSINH_LOG_LEVEL": "WARNING",
    }
    done = subprocess.run(
        [sys.executable, __file__, "--child"],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"gateway run failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def child() -> None:
    """Inside the gateway process: one bulk verification, then rate and peak RSS."""
    from gateway.bootstrap import build_services
    from gateway.security.principal import Actor
    from gateway.services import verify
    from gateway.settings import Settings

    svc = build_services(Settings.from_env())
    check = getattr(svc.registry, "check", None)
    if check is not None:
        check()  # WSDL loaded and mapping checked once, as in a running gateway
    started, cpu = time.perf_counter(), time.process_time()
    summary = verify.verify_pending(svc, Actor.system("benchmark"))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    svc.close()
    result = {
        "checked": summary.checked,
        "verified": summary.verified,
        "errors": summary.errors,
        "seconds": round(seconds, 2),
        "per_s": round(summary.checked / seconds, 1),
        "cpu_us_per_person": round(cpu / max(1, summary.checked) * 1e6, 1),
        "peak_rss_mb": peak_rss_mb(),
    }
    print(json.dumps(result))


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over
    ``fork`` + ``exec``, so a child would report its parent's peak (here: the benchmark's own,
    which holds the generated population)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def cpu_seconds(pid: int) -> float:
    """User + system CPU so far of a process and its children (gunicorn workers; Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = children.read_text().split() if children.exists() else []
    return own + sum(cpu_seconds(int(k)) for k in kids)


def single_lookup_mapping(work: Path) -> str:
    """The default mapping without its batch operation: one lookup per person."""
    text = (REPO / "mappings" / "registry" / "default.toml").read_text()
    start = text.index("[operations.verify_batch]")
    end = text.index("[operations.resolve_legacy]")
    path = work / "single.toml"
    path.write_text(text[:start] + text[end:])
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=100_000, help="persons for the rates")
    parser.add_argument("--rss-people", type=int, default=1_000_000, help="persons for peak RSS")
    parser.add_argument("--single-people", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--single-concurrency", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="5,000 / 20,000 persons")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return
    if args.quick:
        args.people, args.rss_people, args.single_people = 5_000, 20_000, 2_000
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        work = Path(tmp)
        biggest = max(args.people, args.rss_people)
        print(f"simulator: generating {biggest:,} persons …", flush=True)
        sim, url = start_simulator(work, biggest)
        args.sim_pid = sim.pid
        try:
            report = measure(args, work, url)
        finally:
            sim.terminate()
            sim.wait(timeout=30)
    print(json.dumps(report))


def measure(args: argparse.Namespace, work: Path, url: str) -> dict[str, Any]:
    port = int(url.rsplit(":", 1)[1])
    print(f"gateway database: {args.people:,} persons …", flush=True)
    population = max(args.people, args.rss_people)
    sample = build_gateway_db(work / "rates.db", args.people, population)
    sim_cpu = cpu_seconds(args.sim_pid)
    ceiling_rate = ceiling(port, sample[: args.people], args.batch, args.concurrency)
    sim_cpu = (cpu_seconds(args.sim_pid) - sim_cpu) / args.people * 1e6
    print(
        f"ceiling (minimal client): {ceiling_rate:,.0f} persons/s, simulator CPU "
        f"{sim_cpu:.0f} µs/person",
        flush=True,
    )
    batch = run_gateway(
        work / "rates.db", url, "registry/default.toml", args.batch, args.concurrency, work
    )
    print(f"gateway, batch operation: {batch['per_s']:,.0f} persons/s ({batch})", flush=True)
    build_gateway_db(work / "single.db", args.single_people, population)
    single_top = single_ceiling(port, sample[: args.single_people], args.single_concurrency)
    print(f"single-lookup ceiling (minimal client): {single_top:,.0f} persons/s", flush=True)
    single = run_gateway(
        work / "single.db", url, single_lookup_mapping(work), 1, args.single_concurrency, work
    )
    print(f"gateway, single lookups: {single['per_s']:,.0f} persons/s ({single})", flush=True)
    if args.rss_people != args.people:
        print(f"gateway database: {args.rss_people:,} persons for peak RSS …", flush=True)
        build_gateway_db(work / "rss.db", args.rss_people, population)
        big = run_gateway(
            work / "rss.db", url, "registry/default.toml", args.batch, args.concurrency, work
        )
        print(f"gateway, {args.rss_people:,} persons: {big}", flush=True)
    else:
        big = batch
    return {
        "batch_per_s": batch["per_s"],
        "single_per_s": single["per_s"],
        "ceiling_per_s": round(ceiling_rate, 1),
        "single_ceiling_per_s": round(single_top, 1),
        "simulator_cpu_us_per_person": round(sim_cpu, 1),
        "gateway_cpu_us_per_person": batch["cpu_us_per_person"],
        "ratio": round(batch["per_s"] / ceiling_rate, 3),
        "peak_rss_mb": big["peak_rss_mb"],
        "peak_rss_mb_at_rate_size": batch["peak_rss_mb"],
        "people": args.people,
        "rss_people": args.rss_people,
        "single_people": args.single_people,
    }


if __name__ == "__main__":
    main()
