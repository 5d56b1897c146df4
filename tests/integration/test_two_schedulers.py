"""Two real ``ansinh scheduler`` processes on one database: every trigger runs exactly once and
runs of the job never overlap.

Both processes run the probe job (schedules/probe.py, enabled by ``ANSINH_SCHEDULER_PROBE``)
every second; each run sleeps 1.5 s, so every other trigger comes while a run is still going
(on one process or the other) and must be recorded as skipped for overlap, not run. Each process
logs every firing it handled as one JSON line (claimed or lost), so the test sees that *both*
fired the same triggers and that exactly one of them claimed each.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.db.tables import job_run
from gateway.services.context import Services
from tests.conftest import TEST_KEYS

JOB = "scheduler.probe"
RUN_SECONDS = 1.5
ROOT = Path(__file__).resolve().parents[2]


def _start(svc: Services, data_dir: Path, log: Any) -> subprocess.Popen[bytes]:
    assert TEST_KEYS.pii_key and TEST_KEYS.blind_index_key and TEST_KEYS.secret_key
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ANSINH_")},
        "ANSINH_ENV": "test",
        "ANSINH_DATABASE_URL": svc.settings.db_url,
        "ANSINH_DATA_DIR": str(data_dir),
        "ANSINH_SECRET_KEY": TEST_KEYS.secret_key,
        "ANSINH_PII_KEY": base64.b64encode(TEST_KEYS.pii_key).decode(),
        "ANSINH_BLIND_INDEX_KEY": base64.b64encode(TEST_KEYS.blind_index_key).decode(),
        "ANSINH_LOG_JSON": "true",
        "ANSINH_SCHEDULER_PROBE": str(RUN_SECONDS),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "scheduler", "--only", JOB],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )


def _events(log: Path) -> list[dict[str, Any]]:
    out = []
    for line in log.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _rows(svc: Services) -> list[Any]:
    with svc.db.read() as conn:
        return list(conn.execute(select(job_run).where(job_run.c.job == JOB)))


def _wait(predicate: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_two_schedulers_run_each_trigger_once_and_never_overlap(
    svc: Services, tmp_path: Path
) -> None:
    logs = [tmp_path / "scheduler-a.log", tmp_path / "scheduler-b.log"]
    files = [log.open("wb") for log in logs]
    procs = [_start(svc, tmp_path, f) for f in files]
    try:
        _wait(
            lambda: all(
                any(e.get("msg") == "scheduler started" for e in _events(log)) for log in logs
            ),
            60,
            "both schedulers to start",
        )
        started = len(_rows(svc))
        _wait(lambda: len(_rows(svc)) >= started + 6, 60, "six triggers after both started")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        codes = [p.wait(timeout=60) for p in procs]
        for f in files:
            f.close()
    assert codes == [0, 0], [log.read_text()[-2000:] for log in logs]

    # what each process did with each trigger it fired
    fired: dict[str, dict[str, bool]] = defaultdict(dict)  # trigger → {pid: claimed}
    pids = []
    for p, log in zip(procs, logs, strict=True):
        events = _events(log)
        assert any(e.get("msg") == "scheduler stopped" for e in events)
        pid = str(p.pid)
        pids.append(pid)
        for e in events:
            if e.get("job") == JOB and "claimed" in e:
                assert pid not in fired[e["trigger_key"]], "a process handled a trigger twice"
                fired[e["trigger_key"]][pid] = e["claimed"]
    both = [key for key, by in fired.items() if len(by) == 2]
    assert len(both) >= 4, fired  # both processes really fired, the same triggers

    rows = _rows(svc)
    per_trigger = Counter(r.trigger_key for r in rows)
    assert set(per_trigger.values()) == {1}
    for key in both:
        claims = [pid for pid, claimed in fired[key].items() if claimed]
        assert len(claims) == 1, (key, fired[key])  # exactly one process claimed it …
        (row,) = [r for r in rows if r.trigger_key == key]
        assert row.host.endswith(f":{claims[0]}")  # … and its record names that process
    assert {r.host.rsplit(":", 1)[1] for r in rows} <= set(pids)

    # nothing left running; the runs that ran did so one after another
    assert {r.outcome for r in rows} <= {"succeeded", "skipped"}
    ran = sorted((r for r in rows if r.outcome == "succeeded"), key=lambda r: r.started_at)
    assert len(ran) >= 2
    for before, after in itertools.pairwise(ran):
        assert before.finished_at <= after.started_at, (before.trigger_key, after.trigger_key)
    skipped = [r for r in rows if r.outcome == "skipped"]
    assert skipped and all(r.counts == {"reason": "overlap"} for r in skipped)
