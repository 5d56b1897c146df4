"""Before money moves, over real HTTP to the bank simulator, on SQLite and PostgreSQL: the
account-name inquiry (diacritic-insensitive; the bank answers in upper-case ASCII) holds or
rejects what must not be sent, and a sent instruction can be cancelled until the bank
executes it — never after."""

from __future__ import annotations

from sqlalchemy import select

from adapters.payments.simulator.bank import BankConfig
from gateway.db.tables import flag, payee_account, payment_instruction
from gateway.domain.names import NameMatch, bank_form, compare, is_acceptable
from gateway.security.vault import Purpose
from gateway.services import disburse
from gateway.services.context import Services
from tests.payments import helpers as h

NAMES = (
    "Nguyễn Văn Đức",
    "Trần Thị Bình",
    "Lê Văn Cường",
    "Phạm Thị Dung",
    "Hoàng Văn Em",
    "Đặng Thị Hoa",
    "Võ Văn Giàu",
)


def test_bank_names_are_compared_without_diacritics_but_not_reordered() -> None:
    assert bank_form("Nguyễn Văn Đức") == "NGUYEN VAN DUC"
    assert compare("Nguyễn Văn Đức", "NGUYEN VAN DUC") == NameMatch.DIACRITICS
    assert is_acceptable(compare("Đặng Thị Hoa", "DANG  THI HOA"))
    assert not is_acceptable(compare("Phạm Thị Dung", "DUNG THI PHAM"))
    assert not is_acceptable(compare("Lê Văn Cường", "NGUYEN VAN KHAC"))


def _refs(svc: Services) -> dict[str, str]:
    with svc.db.read() as conn:
        rows = conn.execute(select(payment_instruction.c.reference, payment_instruction.c.state))
        return {r.reference: r.state for r in rows}


def test_account_inquiry_before_the_first_payout(svc: Services, fakes) -> None:
    keys = h.new_keys()
    accounts = h.approve(svc, fakes, len(NAMES), names=NAMES)
    bank = {  # what the bank has on file, by beneficiary
        0: ("NGUYEN VAN DUC", "active"),  # the usual answer: upper-case ASCII
        1: ("Trần Thị Bình", "active"),  # a bank that keeps the diacritics
        2: ("NGUYEN VAN KHAC", "active"),  # someone else's account
        3: ("DUNG THI PHAM", "active"),  # the same words, another order: not the same name
        4: ("HOANG VAN EM", "closed"),
        6: ("VO VAN GIAU", "blocked"),
    }  # 5: the bank does not know the account
    numbers = sorted(accounts)
    sim_accounts = {numbers[i]: answer for i, answer in bank.items()}
    sim, server, url = h.start_bank(keys, sim_accounts, BankConfig())
    svc.payments["bank"] = h.channel(keys, url, None)
    made = disburse.create_instructions(svc, h.SYSTEM, "ND20-TCXH", "2026-07")
    summary = disburse.send_batch(svc, h.SYSTEM, made.batches[0])
    server.shutdown()
    assert summary.sent == 2 and summary.held == 5
    with svc.db.read() as conn:
        rows = conn.execute(
            select(
                payee_account.c.number_enc,
                payee_account.c.status,
                payee_account.c.holder_name,
                payment_instruction.c.state,
                payment_instruction.c.reason_code,
                payment_instruction.c.reference,
            ).join(
                payment_instruction, payment_instruction.c.payee_account_id == payee_account.c.id
            )
        ).all()
        flags = conn.execute(select(flag.c.kind, flag.c.detail)).all()
    by_index = {
        numbers.index(("970436", svc.vault.decrypt(r.number_enc, Purpose.ACCOUNT))): r for r in rows
    }
    got = {i: (r.status, r.state, r.reason_code) for i, r in by_index.items()}
    assert got == {
        0: ("verified", "sent", None),
        1: ("verified", "sent", None),
        2: ("mismatch", "held", "BE01"),
        3: ("mismatch", "held", "BE01"),
        4: ("closed", "rejected", "AC04"),
        5: ("not_found", "rejected", "AC01"),
        6: ("blocked", "rejected", "AC06"),
    }
    assert by_index[2].holder_name == "NGUYEN VAN KHAC"
    assert sorted(sim.items) == sorted(by_index[i].reference for i in (0, 1))  # only these
    assert sorted((k, d["bank_name"]) for k, d in flags) == [
        ("account_name_mismatch", "DUNG THI PHAM"),
        ("account_name_mismatch", "NGUYEN VAN KHAC"),
    ]


def test_cancel_before_execution_not_after(svc: Services, fakes) -> None:
    keys = h.new_keys()
    accounts = h.approve(svc, fakes, 3)
    sim, server, url = h.start_bank(keys, accounts, BankConfig(execute_after=60))
    svc.payments["bank"] = h.channel(keys, url, None)
    made = disburse.create_instructions(svc, h.SYSTEM, "ND20-TCXH", "2026-07")
    disburse.send_batch(svc, h.SYSTEM, made.batches[0])
    first, second, third = sorted(_refs(svc))
    outcome = disburse.cancel(svc, h.SYSTEM, [first, second], reason="báo tử từ CSDL dân cư")
    assert outcome == {first: "cancelled", second: "cancelled"}
    assert sim.items[first].cancelled and not sim.items[third].cancelled
    # the bank is asked later: cancelled stays cancelled, the third is still waiting
    disburse.query_unknown(svc, everything_open=True)
    assert _refs(svc) == {first: "cancelled", second: "cancelled", third: "accepted"}
    sim.items[third].due = 0  # the bank executes it now
    too_late = disburse.cancel(svc, h.SYSTEM, [third], reason="too late")
    assert too_late == {third: "rjct.already_executed"}
    disburse.query_unknown(svc, everything_open=True)
    server.shutdown()
    assert _refs(svc) == {first: "cancelled", second: "cancelled", third: "settled"}
    settled = disburse.cancel(svc, h.SYSTEM, [third], reason="settled money is never touched")
    assert settled == {third: "not_cancellable_settled"}


def test_cancel_an_unsent_instruction_here(svc: Services, fakes) -> None:
    h.approve(svc, fakes, 2)
    disburse.create_instructions(svc, h.SYSTEM, "ND20-TCXH", "2026-07")
    refs = sorted(_refs(svc))
    assert disburse.cancel(svc, h.SYSTEM, refs[:1], reason="moved") == {refs[0]: "cancelled"}
    assert fakes["bank"].submitted == []  # the bank never heard of it
    assert sorted(_refs(svc).values()) == ["cancelled", "created"]
