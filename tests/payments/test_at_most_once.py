"""Money moves at most once, proven on PostgreSQL with real processes: the gateway under gunicorn
with two sync workers (real HTTP), the bank simulator sending every callback twice, out of
order, from several threads at once (so copies race each other into both workers), some lost —
and worker processes killed between storing a callback and applying it. Some messages die once
(the resend recovers them), some every time (only the inbox job can). At the end: exactly one
settlement per entitlement, every confirmation stored and applied, and the totals equal the
bank's."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from adapters import signing
from adapters.http import build_session
from adapters.payments.bank_rest import BankRestChannel
from adapters.payments.simulator import serve_in_thread
from adapters.payments.simulator.bank import BankConfig, BankSim
from adapters.payments.simulator.bank_api import create_app
from adapters.payments.simulator.delivery import Deliverer
from certs import pki
from gateway.db.tables import (
    confirmation,
    enrollment,
    inbox_message,
    outbox_message,
    payment_instruction,
    tick,
)
from gateway.services import disburse, inbound
from gateway.services.context import Services
from tests.conftest import TEST_KEYS
from tests.payments import helpers as h

N = 30
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def gunicorn(svc: Services, tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """The gateway in two sync worker processes; yields (base URL, certs, crash marker dir)."""
    import base64

    certs, crashes = tmp_path / "certs", tmp_path / "crashes"
    pki.init(certs)
    crashes.mkdir()
    port = _free_port()
    key = TEST_KEYS
    assert key.pii_key and key.blind_index_key
    env = {
        **os.environ,
        "ANSINH_ENV": "test",
        "ANSINH_DATA_DIR": str(tmp_path / "data"),
        "ANSINH_DATABASE_URL": svc.settings.db_url,
        "ANSINH_SECRET_KEY": "test-secret",
        "ANSINH_PII_KEY": base64.b64encode(key.pii_key).decode(),
        "ANSINH_BLIND_INDEX_KEY": base64.b64encode(key.blind_index_key).decode(),
        "ANSINH_CERTS_DIR": str(certs),
        "ANSINH_PAYMENTS_BACKEND": "bank_rest",
        "ANSINH_BANK_URL": "http://127.0.0.1:9",  # the workers only receive callbacks
        "ANSINH_LOG_LEVEL": "WARNING",
        "ANSINH_TEST_CRASH_DIR": str(crashes),
        "PYTHONPATH": str(ROOT),
    }
    log = (tmp_path / "gunicorn.log").open("wb")
    argv = [sys.executable, "-m", "gunicorn", "-w", "2", "-k", "sync", "-b", f"127.0.0.1:{port}"]
    argv += ["--preload"]  # a killed worker is replaced by a fork, not a fresh import
    argv += ["-c", str(HERE / "crash_gunicorn.py"), "gateway:create_app()"]
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, proc, tmp_path / "gunicorn.log")
        yield url, certs, crashes
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        log.close()


def _wait_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.2)
    raise AssertionError(f"gunicorn did not start: {log.read_text()}")


def _bank(certs: Path, accounts: dict[Any, Any]) -> tuple[BankSim, Any, str]:
    config = BankConfig(
        duplicate_callbacks=2,
        shuffle=True,
        callback_threads=4,
        chunk=4,
        reject_rate=0.15,
        return_rate=0.2,
        return_delay=0.3,
        lost_rate=0.1,
    )
    sim = BankSim(
        config,
        accounts,
        signing.load_signing_key(certs, "bank-sim-1"),
        signing.KeyStore.from_keys_json(certs / "signing" / "keys.json"),
        deliverer=Deliverer(retries=1, threads=config.callback_threads),  # the copy is the resend
    )
    server, url = serve_in_thread(create_app(sim))
    return sim, server, url


def _channel(certs: Path, bank_url: str, callback: str) -> BankRestChannel:
    return BankRestChannel(
        bank_url,
        build_session(h.HTTP, None),
        h.HTTP,
        sender_id="ansinh-gateway",
        bank_id="bank-sim",
        key=signing.load_signing_key(certs, "ansinh-dev-1"),
        key_id="ansinh-dev-1",
        bank_keys=signing.KeyStore.from_keys_json(certs / "signing" / "keys.json"),
        callback_url=callback,
    )


@pytest.mark.postgres_only
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_crashes_duplicates_and_disorder_never_pay_twice(svc: Services, fakes, gunicorn) -> None:
    gateway_url, certs, crashes = gunicorn
    accounts = h.approve(svc, fakes, N)
    sim, server, bank_url = _bank(certs, accounts)
    callback = f"{gateway_url}/api/v1/payments/bank/on-disburse"
    svc.payments["bank"] = _channel(certs, bank_url, callback)
    made = disburse.create_instructions(svc, h.SYSTEM, "ND20-TCXH", "2026-07")
    assert disburse.send_batch(svc, h.SYSTEM, made.batches[0]).sent == N
    h.drain(sim, timeout=120)
    stats = sim.deliverer.stats
    died = sorted(p.name for p in crashes.iterdir())
    assert stats.given_up > 0 and any(n.endswith("-1") for n in died)  # workers were killed
    # the inbox job finds what was stored and never applied (its deliveries all died) …
    recovered = inbound.apply_pending(svc)
    assert recovered["applied"] > 0 and recovered["failed"] == 0
    # … and the status queries find what was never delivered (lost callbacks, lost returns)
    svc.clock = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    disburse.query_unknown(svc)
    disburse.query_returns(svc)
    server.shutdown()
    _check(svc, sim)


def _check(svc: Services, sim: BankSim) -> None:
    bank = {ref: item for ref, item in sim.items.items()}
    expected = {
        ref: "rejected" if i.status == "rjct" else "returned" if i.returned else "settled"
        for ref, i in bank.items()
    }
    assert set(expected.values()) == {"settled", "returned", "rejected"}
    with svc.db.read() as conn:
        states = {
            r.reference: r.state
            for r in conn.execute(
                select(payment_instruction.c.reference, payment_instruction.c.state)
            )
        }
        per_enrollment = conn.execute(
            select(payment_instruction.c.enrollment_id, func.count())
            .where(payment_instruction.c.state.in_(("settled", "returned")))
            .group_by(payment_instruction.c.enrollment_id)
            .having(func.count() > 1)
        ).all()
        paid_amount, paid_count = conn.execute(
            select(func.coalesce(func.sum(payment_instruction.c.amount), 0), func.count()).where(
                payment_instruction.c.state == "settled"
            )
        ).one()
        paid_enrollments = conn.execute(
            select(func.count()).where(enrollment.c.state == "paid")
        ).scalar_one()
        ticks = {t.payment_ref: t.state for t in conn.execute(select(tick))}
        unapplied = conn.execute(
            select(func.count()).where(inbox_message.c.status != "applied")
        ).scalar_one()
        results = dict(
            conn.execute(
                select(confirmation.c.apply_result, func.count()).group_by(
                    confirmation.c.apply_result
                )
            ).all()
        )
        keys = set(conn.execute(select(confirmation.c.item_key)).scalars())
        hashes = set(conn.execute(select(inbox_message.c.content_hash)).scalars())
        topics = dict(
            conn.execute(
                select(outbox_message.c.topic, func.count()).group_by(outbox_message.c.topic)
            ).all()
        )
    assert states == expected  # every payment ended where the bank says it did
    assert per_enrollment == []  # never two settlements for one entitlement
    settled = [r for r, s in expected.items() if s == "settled"]
    returned = [r for r, s in expected.items() if s == "returned"]
    assert paid_count == paid_enrollments == len(settled)
    assert paid_amount == sum(bank[r].amount for r in settled)  # totals equal the bank's
    # a return that overtook its settlement never ticked anyone; the others were withdrawn
    withdrawn = {r for r, t in ticks.items() if t == "withdrawn"}
    assert withdrawn <= set(returned)
    assert ticks == {**dict.fromkeys(settled, "active"), **dict.fromkeys(withdrawn, "withdrawn")}
    assert topics == {
        "registry.tick": len(settled) + len(withdrawn),
        **({"registry.untick": len(withdrawn)} if withdrawn else {}),
    }
    assert sim.deliverer.stats.digests <= hashes  # every callback that reached us was kept …
    assert unapplied == 0  # … and applied
    final = {"settled": ":succ", "rejected": ":rjct", "returned": ":rjct:return"}
    assert {r + final[s] for r, s in expected.items()} <= keys  # every outcome recorded
    rejected = len(expected) - len(settled) - len(returned)
    assert results["returned"] == len(returned) and results["rejected"] == rejected
    assert "duplicate_settlement" not in results
