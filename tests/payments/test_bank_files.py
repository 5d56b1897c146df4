"""A bank in file mode over real HTTP, on SQLite and PostgreSQL: our pain.001 out (valid against
the official XSD), pain.002 and camt.054 back, duplicated statement lines stored once, and
returns booked days later in a camt.053 that arrives after the settlement."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import func, select

from adapters.payments.iso20022.channel import IsoFileChannel
from adapters.payments.iso20022.read import read
from adapters.payments.iso20022.write import Debtor
from adapters.payments.simulator.bank import BankConfig
from gateway.db.tables import confirmation, enrollment, payment_instruction, tick
from gateway.services import confirm, disburse
from gateway.services.context import Services
from tests.payments import helpers as h

N = 16


def _states(svc: Services) -> dict[str, str]:
    with svc.db.read() as conn:
        rows = conn.execute(select(payment_instruction.c.reference, payment_instruction.c.state))
        return {r.reference: r.state for r in rows}


@pytest.mark.parametrize("version", ["pain.001.001.03", "pain.001.001.09"])
def test_file_bank_pain001_out_statements_in_returns_later(
    svc: Services, fakes, version: str
) -> None:
    keys = h.new_keys()
    accounts = h.approve(svc, fakes, N)
    config = BankConfig(
        reject_rate=0.2, return_rate=0.3, return_delay=0.6, return_days=3, duplicate_lines=True
    )
    sim, server, url = h.start_bank(keys, accounts, config)
    rest = h.channel(keys, url, None)
    svc.payments["bank"] = IsoFileChannel(
        url,
        rest.session,
        h.HTTP,
        bank_id="bank-sim",
        debtor=Debtor("So Y te Ha Noi", "1234567890", "970415"),
        version=version,
        account_check=rest.check_account,
    )
    made = disburse.create_instructions(svc, h.SYSTEM, "ND20-TCXH", "2026-07")
    assert disburse.send_batch(svc, h.SYSTEM, made.batches[0]).sent == N
    # out: one pain.001 that the bank took, valid against the pinned official XSD
    (pain001,) = sim.inbound.values()
    parsed = read(pain001, validate=True)
    assert parsed.kind == "pain.001" and parsed.version == version
    assert not [w for w in parsed.warnings if "schema" in w]
    assert sorted(i.reference for i in parsed.items) == sorted(_states(svc))

    first = confirm.fetch_and_apply(svc, "bank")  # pain.002 + camt.054; returns not yet due
    outcome = {ref: item.status for ref, item in sim.items.items()}
    returned = {ref for ref, item in sim.items.items() if item.returned}
    assert set(outcome.values()) == {"succ", "rjct"} and returned
    assert _states(svc) == {
        ref: "settled" if status == "succ" else "rejected" for ref, status in outcome.items()
    }
    assert first.duplicates == first.results["duplicate_item"] > 0  # every line came twice

    time.sleep(config.return_delay + 0.1)
    confirm.fetch_and_apply(svc, "bank")  # now the camt.053 with the returns
    server.shutdown()
    states = _states(svc)
    assert {r for r, s in states.items() if s == "returned"} == returned
    assert {r for r, s in states.items() if s == "settled"} == {
        r for r, s in outcome.items() if s == "succ"
    } - returned
    with svc.db.read() as conn:
        booked = (
            conn.execute(
                select(confirmation.c.occurred_at).where(confirmation.c.apply_result == "returned")
            )
            .scalars()
            .all()
        )
        paid = conn.execute(select(func.count()).where(enrollment.c.state == "paid")).scalar_one()
        ticks = {t.payment_ref: t.state for t in conn.execute(select(tick))}
        per_key = conn.execute(
            select(confirmation.c.item_key, func.count())
            .group_by(confirmation.c.item_key)
            .having(func.count() > 1)
        ).all()
    today = dt.datetime.now(dt.UTC).date()
    assert {b.date() for b in booked} == {today + dt.timedelta(days=3)}  # booked days later
    assert paid == len(states) - len(returned) - list(outcome.values()).count("rjct")
    assert {r for r, s in ticks.items() if s == "withdrawn"} == returned
    assert per_key == []  # duplicated statement lines: one confirmation each


def test_refetching_the_same_files_changes_nothing(svc: Services, fakes) -> None:
    keys = h.new_keys()
    accounts = h.approve(svc, fakes, 6)
    sim, server, url = h.start_bank(keys, accounts, BankConfig(return_rate=0.5, return_delay=0))
    rest = h.channel(keys, url, None)
    svc.payments["bank"] = IsoFileChannel(
        url,
        rest.session,
        h.HTTP,
        bank_id="bank-sim",
        debtor=Debtor("So Y te", "1234567890", "970415"),
        version="pain.001.001.09",
        account_check=rest.check_account,
    )
    made = disburse.create_instructions(svc, h.SYSTEM, "ND20-TCXH", "2026-07")
    disburse.send_batch(svc, h.SYSTEM, made.batches[0])
    confirm.fetch_and_apply(svc, "bank")
    before = _states(svc)
    again = confirm.fetch_and_apply(svc, "bank")  # the bank lists every file every time
    server.shutdown()
    assert len(sim.files) == 3  # pain.002, camt.054, camt.053
    assert again.applied == 0 and again.duplicates == 0 and _states(svc) == before
    assert set(before.values()) <= {"settled", "returned"} and "returned" in before.values()
