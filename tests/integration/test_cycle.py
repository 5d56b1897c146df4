"""The payment cycle through the service layer, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from adapters.payments.port import ConfirmationItem, InboundMessage
from adapters.registry.port import RegistryPerson
from gateway.db.tables import enrollment, payment_instruction, quarantine_row, tick
from gateway.domain.dates import BirthDate
from gateway.errors import Conflict
from gateway.security.principal import Actor
from gateway.services import confirm, disburse, enrollments, intake, reconcile, verify
from gateway.services.context import Services
from gateway.services.demo import build_world, run_demo

SYSTEM = Actor.system("test")
PID_A, PID_B = "079050000101", "079151000202"


@pytest.mark.slow
def test_whole_cycle_finds_every_planted_defect(svc: Services) -> None:
    world = build_world(900, seed=11)
    svc.registry, svc.welfare = world.registry, world.welfare
    svc.payments = {"bank": world.bank, "postoffice": world.post}
    report = run_demo(svc, world, seed=11)
    assert report.defects and all(v["expected"] >= 1 for v in report.defects.values())
    assert report.ok, report.defects
    assert report.enrollments.get("paid", 0) > 0
    assert report.amounts["paid"] <= report.amounts["approved_or_paid"]


def _rows(**over: object) -> list[dict[str, object]]:
    base = {
        "personal_id": PID_A,
        "full_name": "Nguyễn Văn An",
        "birth_date": "1950-03-04",
        "gender": "Nam",
        "commune_code": "26743",
        "channel": "postoffice",
    }
    return [base | over]


def _import(svc: Services, rows: list[dict[str, object]], key: str = "t/1", version: str = "v1"):
    return intake.import_rows(
        svc,
        SYSTEM,
        source_key=key,
        source_kind="fake",
        mapping="canonical",
        programme_code="ND20-TCXH",
        period="2026-07",
        content_hash=version,
        rows=rows,
    )


def test_bad_rows_are_quarantined_with_field_rule_and_both_languages(svc: Services) -> None:
    bad = {
        "personal_id": "12345",
        "full_name": "",
        "birth_date": "31/02/1950",
        "gender": "X",
        "commune_code": "99999",
    }
    rows = [*_rows(), bad]
    summary = _import(svc, rows)
    assert (summary.accepted, summary.quarantined) == (1, 1)
    with svc.db.read() as conn:
        kept = conn.execute(select(quarantine_row)).one()
    rules = {p["field"]: p["rule"] for p in kept.problems}
    assert rules == {
        "personal_id": "personal_id.format",
        "full_name": "full_name.required",
        "birth_date": "date.invalid",
        "gender": "gender.unknown",
        "commune_code": "admin_unit.unknown",
    }
    assert all(p["message"] and p["message_vi"] for p in kept.problems)
    assert next(p for p in kept.problems if p["field"] == "personal_id")["value"] == "*****"
    raw = json.loads(svc.vault.decrypt(kept.raw_enc, intake.QUARANTINE_PURPOSE))
    assert raw["birth_date"] == "31/02/1950"  # the row is kept whole, to be corrected


def test_same_content_imported_once_and_corrections_supersede(svc: Services) -> None:
    first = _import(
        svc,
        _rows()
        + _rows(personal_id=PID_B, full_name="Lê Thị Bình", birth_date="1951-01-01", gender="Nữ"),
    )
    again = _import(svc, [], version="v1")
    assert first.accepted == 2 and again.status == "duplicate" and again.accepted == 2
    corrected = _import(svc, _rows(full_name="Nguyễn Văn Ân"), version="v2")
    # A is listed again (its row replaces the old one), B is no longer listed (cancelled)
    assert (corrected.accepted, corrected.corrected, corrected.superseded) == (1, 1, 1)
    with svc.db.read() as conn:
        states = dict(
            conn.execute(
                select(enrollment.c.state, func.count()).group_by(enrollment.c.state)
            ).all()
        )
    assert states == {"cancelled": 1, "proposed": 1}


def test_flagged_enrollment_needs_an_override_reason(svc: Services, fakes) -> None:
    fakes["registry"].add(
        RegistryPerson(PID_A, "Nguyễn Văn Ân", BirthDate(1950, 3, 4), "M", "alive")
    )
    _import(svc, _rows(full_name="Nguyễn Văn An"))
    verify.verify_pending(svc, SYSTEM)  # "An" vs "Ân": accepted as a diacritic-only difference
    with svc.db.read() as conn:
        eid = conn.execute(select(enrollment.c.id)).scalar_one()
        state = conn.execute(select(enrollment.c.state)).scalar_one()
    assert state == "verified"
    from gateway.db.dialect import insert_ignore
    from gateway.db.tables import flag

    with svc.db.begin() as conn:
        conn.execute(
            insert_ignore(conn, flag).values(
                enrollment_id=eid,
                kind="ticked_elsewhere",
                detail_key="x",
                detail={},
                status="open",
                created_at=svc.clock(),
            )
        )
    blocked = enrollments.approve(svc, SYSTEM, [eid], reason="monthly list")
    assert blocked.approved == [] and blocked.blocked == {eid: ["ticked_elsewhere"]}
    done = enrollments.approve(
        svc,
        SYSTEM,
        [eid],
        reason="monthly list",
        override_reason="other locality confirmed it stopped paying",
    )
    assert done.approved == [eid]


def _approved_bank_enrollment(svc: Services, fakes) -> str:
    fakes["registry"].add(
        RegistryPerson(PID_A, "Nguyễn Văn An", BirthDate(1950, 3, 4), "M", "alive")
    )
    fakes["bank"].open_account("970436", "0011223344", "NGUYEN VAN AN")
    _import(svc, _rows(channel="bank", bank_bin="970436", account_number="0011223344"))
    verify.verify_pending(svc, SYSTEM)
    with svc.db.read() as conn:
        eid = conn.execute(select(enrollment.c.id)).scalar_one()
    enrollments.approve(svc, SYSTEM, [eid], reason="ok")
    made = disburse.create_instructions(svc, SYSTEM, "ND20-TCXH", "2026-07")
    assert made.created == 1
    assert disburse.create_instructions(svc, SYSTEM, "ND20-TCXH", "2026-07").created == 0
    return made.batches[0]


def test_confirmations_apply_once_replay_and_reject_modified(svc: Services, fakes) -> None:
    batch = _approved_bank_enrollment(svc, fakes)
    assert disburse.send_batch(svc, SYSTEM, batch).sent == 1
    msg = fakes["bank"].fetch_confirmations()[0]
    _, applied = confirm.receive_and_apply(svc, msg)
    assert applied.results == {"settled": 1}
    replay, again = confirm.receive_and_apply(svc, msg)
    assert replay.replay and again.applied == 0
    tampered = InboundMessage(msg.source, msg.message_id, msg.kind, msg.body + b" ", msg.items)
    with pytest.raises(Conflict) as exc:
        confirm.receive(svc, tampered)
    assert exc.value.code == "rjct.message_id.duplicate"
    # the same item inside another message is a duplicated line, stored once
    dup = InboundMessage(msg.source, "other-message", msg.kind, b"{}", msg.items)
    _, applied = confirm.receive_and_apply(svc, dup)
    assert applied.duplicates == 1
    # a second settlement of the same reference is a duplicate payment, never a second tick
    ref = msg.items[0].reference
    second = InboundMessage(
        msg.source,
        "stmt-2",
        "camt.054",
        b"{}",
        (ConfirmationItem(ref, "stmt-2:1", "settled", 500_000),),
    )
    _, applied = confirm.receive_and_apply(svc, second)
    assert applied.results == {"duplicate_settlement": 1}
    with svc.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(tick)).scalar_one() == 1
        assert conn.execute(select(enrollment.c.state)).scalar_one() == "paid"
    cases = reconcile.run(svc)
    assert cases.by_type.get("duplicate_payment") == 1


def test_wrong_amount_and_unknown_reference_never_settle(svc: Services, fakes) -> None:
    batch = _approved_bank_enrollment(svc, fakes)
    with svc.db.read() as conn:
        ref = conn.execute(select(payment_instruction.c.reference)).scalar_one()
    svc.payments["bank"] = _Silent(fakes["bank"])
    disburse.send_batch(svc, SYSTEM, batch)
    msg = InboundMessage(
        "bank:test",
        "m-1",
        "on-disburse",
        b"{}",
        (
            ConfirmationItem(ref, "m-1:1", "settled", 499_000),
            ConfirmationItem("AS-NOT-OURS", "m-1:2", "settled", 500_000),
        ),
    )
    _, applied = confirm.receive_and_apply(svc, msg)
    assert applied.results == {"amount_mismatch": 1, "unknown_reference": 1}
    with svc.db.read() as conn:
        assert conn.execute(select(payment_instruction.c.state)).scalar_one() == "sent"
    found = reconcile.run(svc).by_type
    assert found["amount_mismatch"] == 1 and found["unknown_reference"] == 1
    again = reconcile.run(svc)
    assert again.opened == 0 and again.still_open == 2  # re-runs never duplicate a case


class _Silent:
    """A bank that accepts the batch and never calls back (confirmations come by hand)."""

    def __init__(self, bank) -> None:
        self._bank, self.name, self.channel = bank, "silent", "bank"

    def submit(self, batch):
        result = self._bank.submit(batch)
        self._bank.fetch_confirmations()
        return result

    def __getattr__(self, name):
        return getattr(self._bank, name)


def test_timeout_after_submit_leaves_unknown_never_resent(svc: Services, fakes) -> None:
    from gateway.errors import UpstreamTimeout

    batch = _approved_bank_enrollment(svc, fakes)

    class Timeout(_Silent):
        def submit(self, batch):
            raise UpstreamTimeout("no answer in 10 s", "không có phản hồi")

    svc.payments["bank"] = Timeout(fakes["bank"])
    summary = disburse.send_batch(svc, SYSTEM, batch)
    assert summary.unknown == 1
    assert disburse.send_batch(svc, SYSTEM, batch).sent == 0  # nothing is sent again
    assert disburse.create_instructions(svc, SYSTEM, "ND20-TCXH", "2026-07").created == 0
