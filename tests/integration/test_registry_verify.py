"""Bulk verification through the real SOAP and REST adapters and the simulator, on SQLite and
PostgreSQL: every person's outcome recorded with its own code, failures confined to the
persons they hit, and a run killed mid-way resumed without re-verifying anyone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from adapters.registry import errors
from adapters.registry.fake import FakeRegistry
from gateway.db.tables import enrollment, flag, person, registry_verification, registry_verify_run
from gateway.security.principal import Actor
from gateway.security.vault import Purpose
from gateway.services import intake, verify
from gateway.services.context import Services
from tests.registry_support import (
    AN,
    BINH,
    CUONG,
    DAO,
    EM,
    FAST_HTTP,
    SEED,
    UNKNOWN_PID,
    make_simulator,
    rest_registry,
    running,
    seeded_fake,
    soap_registry,
)

SYSTEM = Actor.system("test")
GENDER_VI = {"M": "Nam", "F": "Nữ"}


def _row(p_pid: str, name: str, birth: str, gender: str) -> dict[str, object]:
    return {
        "personal_id": p_pid,
        "full_name": name,
        "birth_date": birth,
        "gender": gender,
        "commune_code": "26743",
        "channel": "postoffice",
    }


def _import(svc: Services, extra: int = 0) -> None:
    rows = [_row(p.pid, p.full_name, p.birth.iso(), GENDER_VI[p.gender]) for p in SEED]
    rows.append(_row(UNKNOWN_PID, "Người Lạ", "1999-01-01", "Nam"))
    rows += [
        _row(f"0010660{i:05d}", "Hoàng Văn Em", "1966-01-01", "Nam") for i in range(1, extra + 1)
    ]
    summary = intake.import_rows(
        svc,
        SYSTEM,
        source_key="t/1",
        source_kind="fake",
        mapping="canonical",
        programme_code="ND20-TCXH",
        period="2026-07",
        content_hash="v1",
        rows=rows,
    )
    assert summary.accepted == len(rows)


def _outcomes(svc: Services) -> dict[str, tuple[str, str | None]]:
    """personal ID -> (latest outcome, error code)."""
    out = {}
    with svc.db.read() as conn:
        for r in conn.execute(
            select(
                person.c.pid_enc,
                registry_verification.c.outcome,
                registry_verification.c.error_code,
            )
            .join(person, person.c.id == registry_verification.c.person_id)
            .order_by(registry_verification.c.id)
        ):
            out[svc.vault.decrypt(r.pid_enc, Purpose.PID)] = (r.outcome, r.error_code)
    return out


def _break_pid(svc: Services, pid: str, bad: str) -> None:
    """A record whose stored number the registry will refuse (as old data sometimes holds)."""
    index = svc.vault.index(pid, Purpose.PID)
    with svc.db.begin() as conn:
        conn.execute(
            update(person)
            .where(person.c.pid_index == index)
            .values(pid_enc=svc.vault.encrypt(bad, Purpose.PID))
        )


def test_every_outcome_is_recorded_with_its_code_through_soap(
    svc: Services, tmp_path: Path, registry_certs: Path
) -> None:
    _import(svc)
    _break_pid(svc, EM.pid, "00106500050")  # 11 digits
    totals: list[int] = []
    advanced: list[int] = []
    with running(make_simulator(tmp_path, registry_certs)) as sim:
        svc.registry = soap_registry(sim)
        summary = verify.verify_pending(
            svc,
            SYSTEM,
            batch_size=2,
            concurrency=2,
            started=totals.append,
            progress=advanced.append,
        )
    assert totals == [6] and sum(advanced) == 6  # what a progress bar is driven by
    assert _outcomes(svc) == {
        AN.pid: ("match", None),
        BINH.pid: ("match", None),  # the registry knows only her birth year
        CUONG.pid: ("deceased", None),
        DAO.pid: ("match", None),
        "00106500050": ("rejected", errors.MALFORMED_ID),
        UNKNOWN_PID: ("not_found", errors.UNKNOWN_ID),
    }
    assert (summary.total, summary.checked, summary.verified) == (6, 6, 3)
    assert (summary.deceased, summary.not_found, summary.rejected) == (1, 1, 1)
    with svc.db.read() as conn:
        states = Counter(conn.execute(select(enrollment.c.state)).scalars())
        kinds = Counter(conn.execute(select(flag.c.kind)).scalars())
        run = conn.execute(select(registry_verify_run)).one()
    assert states == {"verified": 3, "proposed": 3}
    assert kinds == {"deceased": 1, "not_found": 2}
    assert (run.status, run.counts["verified"]) == ("finished", 3)
    again = verify.verify_pending(svc, SYSTEM)  # nothing left: nobody is asked twice
    assert (again.total, again.checked) == (0, 0)


@pytest.mark.parametrize(
    ("protocol", "script", "codes"),
    [
        (
            "soap",
            ["fault", "timeout", "hostile:xxe", "hostile:billion_laughs", "malformed", "error"],
            [
                errors.FAULT,
                errors.TIMEOUT,
                errors.HOSTILE_XML,
                errors.HOSTILE_XML,
                errors.MALFORMED_RESPONSE,
                "registry.http_503",
            ],
        ),
        (
            "rest",
            [
                "bad_signature",
                "expired_token",
                "expired_token",
                "hostile:oversized",
                "fault",
                "timeout",
            ],
            [
                errors.BAD_SIGNATURE,
                errors.TOKEN_EXPIRED,
                errors.OVERSIZED,
                errors.FAULT,
                errors.TIMEOUT,
            ],
        ),
    ],
)
def test_failures_stay_with_their_persons_and_the_next_run_retries_them(
    svc: Services,
    tmp_path: Path,
    registry_certs: Path,
    protocol: str,
    script: list[str],
    codes: list[str],
) -> None:
    _import(svc)
    app = make_simulator(tmp_path, registry_certs)
    app.faults.update({"timeout_seconds": 1.0})
    with running(app) as sim:
        http = replace(FAST_HTTP, read_timeout=0.5)
        registry = (
            soap_registry(sim, http=http)
            if protocol == "soap"
            else rest_registry(sim, registry_certs, http=http)
        )
        registry.lookup(AN.pid)  # WSDL / token ready before the script starts
        svc.registry = registry
        app.faults.script(script)
        first = verify.verify_pending(svc, SYSTEM, batch_size=1, concurrency=1)
        assert first.checked == 6 and first.errors == len(codes)
        assert Counter(first.error_codes) == Counter(codes)
        recorded = Counter(code for outcome, code in _outcomes(svc).values() if outcome == "error")
        assert recorded == Counter(codes)  # each person's own failure, stored
        second = verify.verify_pending(svc, SYSTEM, batch_size=1, concurrency=1)
    assert (second.total, second.errors) == (len(codes), 0)  # only the failed persons again
    assert all(outcome != "error" for outcome, _ in _outcomes(svc).values())


class Crash(BaseException):
    """Stands for the process dying (not an Exception: nothing may catch it)."""


class CrashingRegistry(FakeRegistry):
    def __init__(self, after_calls: int) -> None:
        super().__init__(SEED)
        self.after_calls = after_calls
        self.asked: list[str] = []

    def verify(self, requests):  # type: ignore[no-untyped-def]
        if len(self.asked) >= self.after_calls:
            raise Crash()
        self.asked += [r.pid for r in requests]
        return super().verify(requests)


def test_a_crashed_run_resumes_without_asking_twice(svc: Services) -> None:
    _import(svc, extra=14)
    crashing = CrashingRegistry(after_calls=4)
    svc.registry = crashing
    with pytest.raises(Crash):
        verify.verify_pending(svc, SYSTEM, batch_size=2, concurrency=1)
    with svc.db.read() as conn:
        done_before = conn.execute(select(func.count()).select_from(registry_verification)).scalar()
    assert 0 < done_before < 20
    fresh = seeded_fake()
    asked: list[str] = []
    original = fresh.verify
    fresh.verify = lambda reqs: asked.extend(r.pid for r in reqs) or original(reqs)  # type: ignore[method-assign]
    svc.registry = fresh
    summary = verify.verify_pending(svc, SYSTEM, batch_size=2, concurrency=1)
    assert summary.resumed
    assert summary.checked == 20 - done_before
    assert not set(asked) & set(crashing.asked[:done_before])
    with svc.db.read() as conn:
        per = Counter(conn.execute(select(registry_verification.c.enrollment_id)).scalars())
        runs = [
            r.status
            for r in conn.execute(select(registry_verify_run).order_by(registry_verify_run.c.id))
        ]
    assert set(per.values()) == {1}  # every enrollment verified exactly once
    assert runs == ["failed", "finished"]


def test_a_killed_process_is_resumed_by_the_next_run(
    svc: Services, tmp_path: Path, registry_certs: Path
) -> None:
    """The real thing: ``ansinh registry verify`` in a process killed with SIGKILL mid-run."""
    _import(svc, extra=24)
    app = make_simulator(tmp_path, registry_certs)
    app.faults.update({"latency_ms": 60})
    with running(app) as sim:
        env = {
            **os.environ,
            "ANSINH_DATABASE_URL": svc.settings.db_url,
            "ANSINH_DATA_DIR": str(tmp_path),
            "ANSINH_ENV": "test",
            "ANSINH_REGISTRY_BACKEND": "soap",
            "ANSINH_REGISTRY_URL": f"{sim.url}/soap",
            "ANSINH_REGISTRY_BATCH_SIZE": "1",
            "ANSINH_REGISTRY_VERIFY_CONCURRENCY": "1",
            "ANSINH_LOG_LEVEL": "WARNING",
            **_keys(svc),
        }
        cmd = [sys.executable, "-m", "gateway.cli", "registry", "verify", "--json"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while _count(svc) < 5 and time.monotonic() < deadline:
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
            proc.stdout.close()
            proc.stderr.close()
        killed_at = _count(svc)
        assert 5 <= killed_at < 30
        app.faults.update({"latency_ms": 0})
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    import json

    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["resumed"] is True
    assert result["checked"] == 30 - killed_at
    with svc.db.read() as conn:
        per = Counter(conn.execute(select(registry_verification.c.enrollment_id)).scalars())
        statuses = [
            r.status
            for r in conn.execute(select(registry_verify_run).order_by(registry_verify_run.c.id))
        ]
    assert len(per) == 30 and set(per.values()) == {1}
    assert statuses == ["interrupted", "finished"]


def _count(svc: Services) -> int:
    with svc.db.read() as conn:
        return int(
            conn.execute(select(func.count()).select_from(registry_verification)).scalar_one()
        )


def _keys(svc: Services) -> dict[str, str]:
    import base64

    sec = svc.settings.security
    return {
        "ANSINH_SECRET_KEY": sec.secret_key or "",
        "ANSINH_PII_KEY": base64.b64encode(sec.pii_key or b"").decode(),
        "ANSINH_BLIND_INDEX_KEY": base64.b64encode(sec.blind_index_key or b"").decode(),
    }


@pytest.mark.parametrize("programme", [None, "ND20-TCXH"])
def test_candidate_pages_walk_the_primary_key_on_sqlite(
    tmp_path: Path, programme: str | None
) -> None:
    """Each page must cost the page, not the population: no per-page sort of every proposed row."""
    import sqlite3

    from sqlalchemy.dialects import sqlite

    from gateway.db import migrate
    from gateway.db.engine import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    migrate.upgrade(engine)
    engine.dispose()
    query = (
        verify._pending_query(programme, keyset=True)
        .where(enrollment.c.id > 10)
        .order_by(enrollment.c.id)
        .limit(500)
    )
    sql = str(query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    with sqlite3.connect(tmp_path / "plan.db") as conn:
        plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
    assert "SEARCH enrollment USING INTEGER PRIMARY KEY (rowid>?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_no_verification_statement_reads_every_proposed_row_on_sqlite(
    sqlite_template: Path, tmp_path: Path, settings
) -> None:
    """Every statement a verification run issues touches its chunk, not the population: a plan
    on the (state, unit) index or a temporary sort would make a million-person run quadratic."""
    import shutil
    import sqlite3

    from sqlalchemy import event

    from gateway.bootstrap import build_services

    db = tmp_path / "plan.db"
    shutil.copyfile(sqlite_template, db)
    svc = build_services(settings.with_(database_url=f"sqlite:///{db}"), registry=seeded_fake())
    seen: list[tuple[str, object]] = []
    event.listen(
        svc.db.engine,
        "before_cursor_execute",
        lambda _c, _cur, sql, params, _ctx, many: seen.append((sql, params)) if not many else None,
    )
    try:
        _import(svc, extra=600)  # chunks of realistic size: the planner's choice depends on it
        seen.clear()
        verify.verify_pending(svc, SYSTEM, batch_size=500)
    finally:
        svc.close()
    statements = [(sql, p) for sql, p in seen if "enrollment" in sql and "EXPLAIN" not in sql]
    assert statements
    with sqlite3.connect(db) as conn:
        for sql, params in statements:
            plan = " | ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            if "count(*)" in sql:  # the one count for the progress bar, once per run
                continue
            assert "ix_enrollment_state_unit" not in plan and "TEMP B-TREE" not in plan, (sql, plan)
