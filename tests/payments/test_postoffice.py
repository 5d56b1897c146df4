"""The post office over real HTTP, on SQLite and PostgreSQL: payout lists per payout point out
(CSV or XLSX), return files in (CSV or XLSX) with paid / unpaid / returned — and an ID recorded
at the counter that is not the beneficiary's is a mismatch, never a payment."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from adapters.http import build_session
from adapters.payments.postoffice import PostOfficeChannel, read_rows
from adapters.payments.simulator import serve_in_thread
from adapters.payments.simulator.postoffice import PostOfficeConfig, PostOfficeSim, create_app
from gateway.db.tables import (
    confirmation,
    enrollment,
    inbox_message,
    payment_instruction,
    person,
    tick,
)
from gateway.services import confirm, disburse, reconcile
from gateway.services.context import Services
from tests.payments import helpers as h

N = 24


def _run(svc: Services, fakes: dict[str, Any], *, xlsx: bool) -> PostOfficeSim:
    sim = PostOfficeSim(
        PostOfficeConfig(
            unpaid_rate=0.2,
            returned_rate=0.15,
            id_mismatch_rate=0.3,
            duplicate_rows=True,
            xlsx=xlsx,
        )
    )
    server, url = serve_in_thread(create_app(sim))
    svc.payments["postoffice"] = PostOfficeChannel(
        url, build_session(h.HTTP, None), h.HTTP, list_format="xlsx" if xlsx else "csv"
    )
    h.approve(svc, fakes, N, channel="postoffice")
    made = disburse.create_instructions(svc, h.SYSTEM, "ND20-TCXH", "2026-07")
    for batch in made.batches:
        assert disburse.send_batch(svc, h.SYSTEM, batch).sent == N
    confirm.fetch_and_apply(svc, "postoffice")
    server.shutdown()
    return sim


def _gateway_view(svc: Services) -> dict[str, tuple[str, str, str]]:
    """reference → (instruction state, enrollment state, apply result)."""
    with svc.db.read() as conn:
        rows = conn.execute(
            select(
                payment_instruction.c.reference,
                payment_instruction.c.state,
                enrollment.c.state.label("e_state"),
                confirmation.c.apply_result,
            )
            .join(enrollment, enrollment.c.id == payment_instruction.c.enrollment_id)
            .join(confirmation, confirmation.c.instruction_id == payment_instruction.c.id)
        ).all()
    return {r.reference: (r.state, r.e_state, r.apply_result) for r in rows}


@pytest.mark.parametrize("xlsx", [False, True], ids=["csv", "xlsx"])
def test_payout_lists_out_and_return_file_in(svc: Services, fakes, xlsx: bool) -> None:
    sim = _run(svc, fakes, xlsx=xlsx)
    # out: one list per payout point, with the people to pay there (ID, name, amount)
    sent = [row for body in sim.lists.values() for row in read_rows(body)]
    assert all(key.endswith(".xlsx" if xlsx else ".csv") for key in sim.lists)
    assert len(sent) == N and {r["amount"] for r in sent} == {"500000"}
    assert {r["personal_id"] for r in sent} == {h.person(i)[0] for i in range(N)}
    beneficiary = {r["reference"]: r["personal_id"] for r in sent}
    # in: every outcome the post office reported, applied as it should be
    expect: dict[str, tuple[str, str, str]] = {}
    for ref, record in sim.outcomes.items():
        if record["status"] == "unpaid":
            expect[ref] = ("rejected", "approved", "rejected")
        elif record["status"] == "returned":
            expect[ref] = ("returned", "approved", "returned")
        elif record["id_number"] != beneficiary[ref]:
            expect[ref] = ("sent", "approved", "id_mismatch")  # someone else took the cash
        else:
            expect[ref] = ("settled", "paid", "settled")
    assert {e[2] for e in expect.values()} == {"rejected", "returned", "id_mismatch", "settled"}
    assert _gateway_view(svc) == expect
    with svc.db.read() as conn:
        ticked = set(conn.execute(select(tick.c.payment_ref)).scalars())
        stored = len(conn.execute(select(confirmation.c.id)).all())
        reasons = dict(
            conn.execute(
                select(payment_instruction.c.reference, payment_instruction.c.reason_code)
            ).all()
        )
    assert ticked == {ref for ref, e in expect.items() if e[0] == "settled"}
    returned_rows = [row for _due, body in sim.files.values() for row in read_rows(body)]
    assert len(returned_rows) == 2 * N and stored == N  # every row came twice, stored once
    assert {reasons[r] for r, e in expect.items() if e[0] == "rejected"} == {"unpaid"}


def test_counter_id_mismatch_becomes_an_identity_case(svc: Services, fakes) -> None:
    sim = _run(svc, fakes, xlsx=False)
    mismatched = {
        ref
        for ref, r in sim.outcomes.items()
        if r["status"] == "paid" and r["id_number"] != _pid_of(svc, ref)
    }
    assert mismatched
    summary = reconcile.run(svc)
    assert summary.by_type.get("identity_mismatch", 0) == len(mismatched)
    # fetching the same return files again changes nothing
    before = _gateway_view(svc)
    with svc.db.read() as conn:
        stored = len(conn.execute(select(inbox_message.c.id)).all())
    server, url = serve_in_thread(create_app(sim))
    svc.payments["postoffice"] = PostOfficeChannel(url, build_session(h.HTTP, None), h.HTTP)
    again = confirm.fetch_and_apply(svc, "postoffice")
    server.shutdown()
    assert again.applied == 0 and _gateway_view(svc) == before
    with svc.db.read() as conn:
        assert len(conn.execute(select(inbox_message.c.id)).all()) == stored


def _pid_of(svc: Services, reference: str) -> str:
    from gateway.security.vault import Purpose

    with svc.db.read() as conn:
        blob = conn.execute(
            select(person.c.pid_enc)
            .join(enrollment, enrollment.c.person_id == person.c.id)
            .join(payment_instruction, payment_instruction.c.enrollment_id == enrollment.c.id)
            .where(payment_instruction.c.reference == reference)
        ).scalar_one()
    return svc.vault.decrypt(blob, Purpose.PID)
