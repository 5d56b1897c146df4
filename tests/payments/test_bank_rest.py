"""The bank over real HTTP (mutual TLS) with a real gateway receiving its signed callbacks, on
SQLite and PostgreSQL: duplicated, shuffled, lost callbacks; timeouts; bad input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from adapters import signing
from adapters.payments.simulator.bank import BankConfig
from gateway.db.tables import (
    confirmation,
    enrollment,
    inbound_rejection,
    inbox_message,
    payment_instruction,
)
from gateway.errors import UpstreamTimeout
from gateway.services import disburse
from gateway.services.context import Services
from tests.payments import helpers as h


def _states(svc: Services) -> dict[str, int]:
    with svc.db.read() as conn:
        return dict(
            conn.execute(
                select(payment_instruction.c.state, func.count()).group_by(
                    payment_instruction.c.state
                )
            ).all()
        )


def _send(svc: Services) -> list[str]:
    made = disburse.create_instructions(svc, h.SYSTEM, "ND20-TCXH", "2026-07")
    for batch in made.batches:
        disburse.send_batch(svc, h.SYSTEM, batch)
    return made.batches


@pytest.fixture
def rails(svc: Services, fakes, tmp_path: Path):
    keys = h.new_keys()
    gateway_server, gateway_url = h.start_gateway(svc)
    yield keys, gateway_url
    gateway_server.shutdown()


def test_duplicated_shuffled_callbacks_over_mtls_settle_each_payment_once(
    svc: Services, fakes, rails, tmp_path: Path
) -> None:
    keys, gateway_url = rails
    accounts = h.approve(svc, fakes, 12)
    accounts[("970436", "0000000003")] = (accounts[("970436", "0000000003")][0], "closed")
    certs = tmp_path / "certs"
    port = h.channel(keys, "https://x", None, certs)  # creates the PKI
    config = BankConfig(duplicate_callbacks=2, shuffle=True, chunk=5, return_rate=0.0)
    sim, server, url = h.start_bank(keys, accounts, config, certs)
    port = h.channel(keys, url, f"{gateway_url}/api/v1/payments/bank/on-disburse", certs)
    svc.payments["bank"] = port
    _send(svc)
    h.drain(sim)
    stats = port.session.get(f"{url}/_sim/stats", timeout=5).json()
    server.shutdown()
    assert stats["items"] == {"succ": 11} and stats["pending_callbacks"] == 0  # closed: never sent
    assert sim.deliverer.stats.delivered == sim.deliverer.stats.queued  # none refused or lost
    assert _states(svc) == {"settled": 11, "rejected": 1}
    with svc.db.read() as conn:
        paid = conn.execute(select(func.count()).where(enrollment.c.state == "paid")).scalar_one()
        settled_items = conn.execute(
            select(func.count()).where(confirmation.c.apply_result == "settled")
        ).scalar_one()
        replays = conn.execute(
            select(func.count()).where(inbound_rejection.c.code == "dup.message_id.replayed")
        ).scalar_one()
        rejected_reason = conn.execute(
            select(payment_instruction.c.reason_code).where(
                payment_instruction.c.state == "rejected"
            )
        ).scalar_one()
    assert paid == 11 and settled_items == 11
    assert replays == sim.deliverer.stats.queued // 2  # every second copy was a replay
    assert rejected_reason == "AC04"


def test_lost_callbacks_and_timeouts_are_resolved_by_status_query_never_resent(
    svc: Services, fakes, rails
) -> None:
    keys, gateway_url = rails
    accounts = h.approve(svc, fakes, 6)
    sim, server, url = h.start_bank(keys, accounts, BankConfig(lost_rate=1.0))
    port = h.channel(keys, url, f"{gateway_url}/api/v1/payments/bank/on-disburse")
    svc.payments["bank"] = port
    _send(svc)
    assert _states(svc) == {"sent": 6}  # every callback lost

    class TimesOut:
        """Submits, then the answer never comes: the bank has the batch, we do not know."""

        def __init__(self, inner) -> None:
            self.inner, self.name, self.channel = inner, inner.name, "bank"

        def submit(self, batch):
            self.inner.submit(batch)
            raise UpstreamTimeout("no answer", "không có phản hồi")

        def __getattr__(self, attr):
            return getattr(self.inner, attr)

    sim.accounts.update(h.approve(svc, fakes, 8, key="t/2"))  # two more people
    svc.payments["bank"] = TimesOut(port)
    _send(svc)
    assert _states(svc) == {"sent": 6, "unknown": 2}
    svc.payments["bank"] = port
    before = len(sim.items)
    # nothing is due yet: not past the deadline, not old enough to query
    assert disburse.query_unknown(svc).queried == 0
    svc.clock = lambda: disburse.dt.datetime.now(disburse.dt.UTC) + disburse.dt.timedelta(days=1)
    summary = disburse.query_unknown(svc)
    assert summary.queried == 8 and summary.resolved == 8 and summary.still_unknown == 0
    assert len(sim.items) == before + 0  # the bank saw no second submission
    assert _states(svc) == {"settled": 8}
    server.shutdown()


def _signed(
    keys, message: dict, *, message_id: str, now: float | None = None, kid: str = "bank-sim-1"
) -> bytes:
    header = {
        "version": "1.0.0",
        "message_id": message_id,
        "message_ts": "2026-07-10T00:00:00+00:00",
        "action": "on-disburse",
        "sender_id": "bank-sim",
        "total_count": 1,
    }
    return json.dumps(
        signing.envelope(header, message, key=keys.bank, sender_id="bank-sim", key_id=kid, now=now)
    ).encode()


def _item(ref: str, amount: str = "500000.00", status: str = "succ") -> dict:
    return {
        "transaction_id": "t",
        "disbursements_status": [
            {
                "reference_id": ref,
                "status": status,
                "amount": amount,
                "timestamp": "2026-07-10T00:00:00+00:00",
            }
        ],
    }


def test_bad_callbacks_are_refused_with_distinct_codes_kept_and_change_nothing(
    svc: Services, fakes, rails, client
) -> None:
    keys, _gateway_url = rails
    accounts = h.approve(svc, fakes, 1)
    _sim, server, url = h.start_bank(keys, accounts, BankConfig(lost_rate=1.0))
    svc.payments["bank"] = h.channel(keys, url, None)
    _send(svc)
    server.shutdown()
    with svc.db.read() as conn:
        ref = conn.execute(select(payment_instruction.c.reference)).scalar_one()
    path = "/api/v1/payments/bank/on-disburse"
    good = _signed(keys, _item(ref, "499000.00"), message_id="m-1")
    tampered = json.loads(good)
    tampered["message"]["disbursements_status"][0]["amount"] = "500000.00"
    forged = h.new_keys()
    cases = {
        "err.signature.invalid": json.dumps(tampered).encode(),
        "err.signature.expired": _signed(keys, _item(ref), message_id="m-2", now=time.time() - 900),
        "err.signature.unknown_key": _signed(forged, _item(ref), message_id="m-3", kid="x-9"),
        "err.request.bad": b"{not json",
    }
    for code, body in cases.items():
        answer = client.post(path, data=body, content_type="application/json")
        assert answer.status_code in (401, 422), code
        assert answer.get_json()["code"] == code
    first = client.post(path, data=good, content_type="application/json")
    replay = client.post(path, data=good, content_type="application/json")
    assert first.status_code == 200 and first.get_json()["message"]["ack_status"] == "ACK"
    assert replay.headers["X-Ansinh-Replay"] == "true"
    assert replay.get_json() == first.get_json()
    modified = _signed(keys, _item(ref, "1.00"), message_id="m-1")
    assert client.post(path, data=modified, content_type="application/json").status_code == 409
    unknown = _signed(keys, _item("AS-NOT-OURS"), message_id="m-4")
    assert client.post(path, data=unknown, content_type="application/json").status_code == 200
    with svc.db.read() as conn:
        codes = sorted(conn.execute(select(inbound_rejection.c.code)).scalars())
        results = sorted(conn.execute(select(confirmation.c.apply_result)).scalars())
        stored = conn.execute(select(func.count()).select_from(inbox_message)).scalar_one()
    assert codes == sorted([*cases, "dup.message_id.replayed", "rjct.message_id.duplicate"])
    assert results == ["amount_mismatch", "unknown_reference"]
    assert stored == 2  # only the two genuine messages took an inbox slot
    assert _states(svc) == {"sent": 1}  # none of it moved the payment
