"""Mismatch cases worked through by officers: every resolution end to end, on SQLite and
PostgreSQL, through the service, the CLI and the API, with scope, reasons and the audit chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, literal, select
from sqlalchemy.exc import IntegrityError

from adapters.payments.port import ConfirmationItem, InboundMessage
from gateway.db.tables import (
    app_user,
    audit_event,
    case_action,
    confirmation,
    enrollment,
    enrollment_transition,
    mismatch_case,
    payment_batch,
    payment_instruction,
    person,
    tick,
)
from gateway.errors import Conflict, Forbidden, InvalidState, NotFound, ValidationFailed
from gateway.security.principal import Actor
from gateway.services import accounts, audit, cases, confirm, disburse, reconcile
from gateway.services.context import Services
from tests.e2e.seed import PERIOD, SYSTEM, WebWorld, add_user, bearer, seed

PROGRAMME = "ND20-TCXH"


@pytest.fixture
def world(svc: Services, tmp_path: Path) -> WebWorld:
    world = seed(svc, tmp_path / "certs", people=60)
    add_user(svc, "kiemtoan", "auditor", None, None)
    return world


def officer(svc: Services, username: str) -> Actor:
    with svc.db.read() as conn:
        user_id = conn.execute(
            select(app_user.c.id).where(app_user.c.username == username)
        ).scalar_one()
        return accounts.actor_for_user(conn, user_id)


def instructions(svc: Services, enrollment_id: int) -> list[Any]:
    with svc.db.read() as conn:
        return list(
            conn.execute(
                select(payment_instruction)
                .where(payment_instruction.c.enrollment_id == enrollment_id)
                .order_by(payment_instruction.c.attempt)
            )
        )


def send_doorstep_batch(svc: Services, world: WebWorld) -> None:
    with svc.db.read() as conn:
        ref = conn.execute(
            select(payment_batch.c.reference).where(
                payment_batch.c.id
                == select(payment_instruction.c.batch_id)
                .where(payment_instruction.c.enrollment_id == world.payable[0])
                .scalar_subquery()
            )
        ).scalar_one()
    assert disburse.send_batch(svc, SYSTEM, ref).sent == 3


def report(svc: Services, reference: str, outcome: str, key: str, **extra: Any) -> dict[str, int]:
    item = ConfirmationItem(reference=reference, item_key=key, outcome=outcome, **extra)
    msg = InboundMessage("postoffice", f"m:{key}", "return-file", key.encode(), (item,))
    return confirm.receive_and_apply(svc, msg)[1].results


def case_for(svc: Services, case_type: str, **where: int) -> int:
    with svc.db.read() as conn:
        return int(
            conn.execute(
                select(mismatch_case.c.id).where(
                    mismatch_case.c.type == case_type,
                    mismatch_case.c.status == "open",
                    *(getattr(mismatch_case.c, k) == v for k, v in where.items()),
                )
            ).scalar_one()
        )


def open_case(
    svc: Services, world: WebWorld, case_type: str, enrollment_id: int, **more: Any
) -> int:
    with svc.db.begin() as conn:
        person_id = conn.execute(
            select(enrollment.c.person_id).where(enrollment.c.id == enrollment_id)
        ).scalar_one()
        return int(
            conn.execute(
                insert(mismatch_case)
                .values(
                    type=case_type,
                    dedup_key=more.pop("dedup_key", f"e:{enrollment_id}"),
                    status="open",
                    unit_id=world.commune_id,
                    programme_id=world.programme_id,
                    period=PERIOD,
                    person_id=person_id,
                    enrollment_id=enrollment_id,
                    evidence={"amount": 500_000},
                    opened_at=svc.clock(),
                    **more,
                )
                .returning(mismatch_case.c.id)
            ).scalar_one()
        )


def status_of(svc: Services, case_id: int) -> Any:
    with svc.db.read() as conn:
        return conn.execute(select(mismatch_case).where(mismatch_case.c.id == case_id)).one()


def test_reissue_links_a_new_instruction_and_the_database_refuses_a_second_live_one(
    svc: Services, world: WebWorld
) -> None:
    xa = officer(svc, "xa")
    send_doorstep_batch(svc, world)
    eid = world.payable[0]
    (old,) = instructions(svc, eid)
    assert report(svc, old.reference, "returned", "ret-1", reason_code="AC04") == {"returned": 1}
    reconcile.run(svc)
    returned = case_for(svc, "returned_payment", instruction_id=old.id)
    unpaid = case_for(svc, "approved_unpaid", enrollment_id=eid)

    done = cases.resolve(svc, xa, unpaid, "reissue_payment", "Người nhận đã về địa phương")
    old_row, new = instructions(svc, eid)
    with svc.db.read() as conn:
        person_id = conn.execute(
            select(enrollment.c.person_id).where(enrollment.c.id == eid)
        ).scalar_one()
    assert (new.attempt, new.replaces_id, new.state) == (2, old.id, "created")
    assert new.idempotency_key == disburse.idempotency_key(PROGRAMME, PERIOD, person_id, 2)
    assert new.reference not in (old.reference, "") and old_row.state == "returned"
    assert done.detail["instruction_id"] == new.id and done.detail["replaces_id"] == old.id
    assert ("approved_unpaid", f"e:{eid}") not in _suppressed(svc)  # a recurrence is a new case

    # the returned-payment case names the old (returned) instruction, so the service lets the
    # re-issue through — and the partial unique index refuses a second live payment
    with pytest.raises(Conflict) as refused:
        cases.resolve(svc, xa, returned, "reissue_payment", "Chi lại lần nữa")
    assert refused.value.code == "payment.live_instruction_exists" and refused.value.status == 409
    assert refused.value.message_vi != refused.value.message
    assert len(instructions(svc, eid)) == 2 and status_of(svc, returned).status == "open"
    with pytest.raises(IntegrityError), svc.db.begin() as conn:
        conn.execute(
            insert(payment_instruction).values(
                enrollment_id=eid,
                attempt=3,
                idempotency_key=disburse.idempotency_key(PROGRAMME, PERIOD, person_id, 3),
                reference="AS-TEST-3",
                channel=new.channel,
                amount=new.amount,
                state="sent",
                created_at=svc.clock(),
            )
        )
    # the re-issued payment goes out through its own batch, as any other
    assert disburse.send_batch(svc, SYSTEM, done.detail["batch"]).sent == 1
    with pytest.raises(Conflict):  # still refused now that the re-issued payment is sent
        cases.resolve(svc, xa, returned, "reissue_payment", "Chi lại")
    later = open_case(svc, world, "approved_unpaid", eid, dedup_key=f"x:{eid}")
    with pytest.raises(InvalidState) as live:  # the latest attempt is live: nothing to replace
        cases.resolve(svc, xa, later, "reissue_payment", "Chi lại")
    assert live.value.code == "case.instruction_live"


def test_confirm_paid_settles_once_through_the_payment_path(svc: Services, world: WebWorld) -> None:
    xa = officer(svc, "xa")
    send_doorstep_batch(svc, world)
    eid = world.payable[1]
    (instr,) = instructions(svc, eid)
    wrong = report(svc, instr.reference, "settled", "amt-1", amount=int(instr.amount) + 1000)
    assert wrong == {"amount_mismatch": 1}
    reconcile.run(svc)
    case = case_for(svc, "amount_mismatch", instruction_id=instr.id)

    with pytest.raises(ValidationFailed) as missing:
        cases.resolve(svc, xa, case, "confirm_paid", "Bưu điện xác nhận đã chi đúng")
    assert missing.value.problems[0].field == "evidence_ref"
    assert "minh chứng" in missing.value.problems[0].message_vi

    done = cases.resolve(
        svc, xa, case, "confirm_paid", "Bưu điện xác nhận đã chi đúng", "BD-2026-08-0012"
    )
    assert done.detail["result"] == "settled"
    (settled,) = instructions(svc, eid)
    with svc.db.read() as conn:
        e = conn.execute(select(enrollment).where(enrollment.c.id == eid)).one()
        manual = conn.execute(select(confirmation).where(confirmation.c.source == "case")).one()
        ticked = conn.execute(
            select(func.count()).where(tick.c.person_id == e.person_id, tick.c.state == "active")
        ).scalar_one()
    assert settled.state == "settled" and e.state == "paid" and ticked == 1
    assert manual.apply_result == "settled" and manual.evidence_ref == "BD-2026-08-0012"
    assert manual.instruction_id == instr.id and manual.amount == instr.amount

    # confirming the same payment again (another case naming it) records nothing new
    other = open_case(
        svc,
        world,
        "unknown_outcome_overdue",
        eid,
        dedup_key=f"i:{instr.id}",
        instruction_id=instr.id,
    )
    again = cases.resolve(svc, xa, other, "confirm_paid", "Đã xác nhận ở vụ trước", "BD-0012")
    assert again.detail["result"] == "already_settled"
    with svc.db.read() as conn:
        results = list(
            conn.execute(
                select(confirmation.c.apply_result).where(confirmation.c.instruction_id == instr.id)
            ).scalars()
        )
    assert sorted(results) == ["amount_mismatch", "settled"]  # never a second settlement

    with pytest.raises(InvalidState) as twice:
        cases.resolve(svc, xa, case, "false_positive", "Đổi ý")
    assert twice.value.code == "case.already_resolved" and twice.value.status == 409
    assert ("amount_mismatch", f"i:{instr.id}") in _suppressed(svc)  # a stored fact: stays closed
    reconcile.run(svc)
    with svc.db.read() as conn:
        duplicates = conn.execute(
            select(func.count()).where(
                mismatch_case.c.type == "duplicate_payment",
                mismatch_case.c.instruction_id == instr.id,
            )
        ).scalar_one()
    assert duplicates == 0


def test_cancel_entitlement_reason_scope_roles_and_applicability(
    svc: Services, world: WebWorld
) -> None:
    xa, other, auditor = officer(svc, "xa"), officer(svc, "xakhac"), officer(svc, "kiemtoan")
    eid = world.payable[2]
    case = open_case(svc, world, "deceased", eid)

    with pytest.raises(ValidationFailed) as blank:
        cases.resolve(svc, xa, case, "cancel_entitlement", "   ")
    assert [p.field for p in blank.value.problems] == ["reason"]
    assert blank.value.problems[0].message_vi == "phải ghi lý do"
    with pytest.raises(ValidationFailed) as unknown:
        cases.resolve(svc, xa, case, "pay_twice", "")
    assert [p.field for p in unknown.value.problems] == ["action", "reason"]
    with pytest.raises(ValidationFailed) as wrong:
        cases.resolve(svc, xa, case, "confirm_paid", "Đã chi", "BD-1")
    assert wrong.value.problems[0].rule == "case.action_not_applicable"
    assert "deceased" in wrong.value.problems[0].message
    with pytest.raises(NotFound):  # another commune's officer: the case does not exist
        cases.resolve(svc, other, case, "cancel_entitlement", "Không phải xã tôi")
    with pytest.raises(NotFound):
        cases.get_case(svc, other, case)
    with pytest.raises(Forbidden):
        cases.resolve(svc, auditor, case, "cancel_entitlement", "Kiểm toán")
    with svc.db.read() as conn:
        mine = cases.list_cases(conn, xa, cases.CaseFilter(type="deceased"), now=svc.clock())
        theirs = cases.list_cases(conn, other, cases.CaseFilter(), now=svc.clock())
    assert case in [r["id"] for r in mine.rows] and case not in [r["id"] for r in theirs.rows]

    done = cases.resolve(svc, xa, case, "cancel_entitlement", "Đã mất theo giấy báo tử số 12")
    assert done.detail["from_state"] == "approved" and len(done.detail["cancelled_payments"]) == 1
    (instr,) = instructions(svc, eid)
    with svc.db.read() as conn:
        state = conn.execute(select(enrollment.c.state).where(enrollment.c.id == eid)).scalar()
        why = conn.execute(
            select(enrollment_transition.c.reason).where(
                enrollment_transition.c.enrollment_id == eid,
                enrollment_transition.c.to_state == "cancelled",
            )
        ).scalar_one()
        history = conn.execute(select(case_action).where(case_action.c.case_id == case)).one()
    assert state == "cancelled" and instr.state == "cancelled"
    assert why == f"case {case}: Đã mất theo giấy báo tử số 12"
    assert history.actor == xa.label() and history.action == "cancel_entitlement"
    row = status_of(svc, case)
    assert (row.status, row.resolution) == ("resolved", "cancel_entitlement")
    assert row.resolution_reason == "Đã mất theo giấy báo tử số 12" and row.closed_at is not None


def test_cancel_entitlement_asks_the_channel_to_stop_a_sent_payment(
    svc: Services, world: WebWorld
) -> None:
    send_doorstep_batch(svc, world)
    eid = world.payable[0]
    (sent,) = instructions(svc, eid)
    case = open_case(svc, world, "ticked_elsewhere", eid, dedup_key=f"e:{eid}:X")
    done = cases.resolve(svc, officer(svc, "xa"), case, "cancel_entitlement", "Đã nhận ở tỉnh khác")
    # the fake post office answers that the cash was already paid out: the payment stays sent
    assert done.detail["channel_cancel"] == {sent.reference: "rjct.already_executed"}
    assert done.detail["cancelled_payments"] == []
    (after,) = instructions(svc, eid)
    with svc.db.read() as conn:
        state = conn.execute(select(enrollment.c.state).where(enrollment.c.id == eid)).scalar()
        actions = list(
            conn.execute(
                select(audit_event.c.action).where(
                    audit_event.c.action.in_(("case.cancel_entitlement", "payment.cancel"))
                )
            ).scalars()
        )
    assert after.state == "sent" and state == "cancelled"
    assert actions == ["case.cancel_entitlement", "payment.cancel"]


def test_false_positive_stays_resolved_and_assignment_stays_in_scope(
    svc: Services, world: WebWorld
) -> None:
    bo = officer(svc, "bo")
    eid = world.clean_verified[0]
    key = f"e:{eid}:REF-1"
    case = open_case(svc, world, "ticked_elsewhere", eid, dedup_key=key)

    with pytest.raises(ValidationFailed) as outside:
        cases.assign(svc, bo, case, "xakhac")
    assert outside.value.problems[0].field == "assignee"
    cases.assign(svc, bo, case, "xa", reason="Xã nắm rõ hộ này")
    with svc.db.read() as conn:
        assigned = cases.list_cases(conn, bo, cases.CaseFilter(assignee="xa"), now=svc.clock())
    assert [r["id"] for r in assigned.rows] == [case] and assigned.rows[0]["assignee"] == "xa"

    cases.resolve(svc, officer(svc, "xa"), case, "false_positive", "Mã chi trả là của tỉnh khác")
    assert ("ticked_elsewhere", key) in _suppressed(svc)
    with svc.db.read() as conn:
        probe = [
            conn.execute(
                select(literal(1)).where(
                    cases.not_suppressed(literal("ticked_elsewhere"), literal(k))
                )
            ).scalar()
            for k in (key, f"e:{eid}:REF-2")
        ]
    assert probe == [None, 1]  # the same finding is skipped, another one is not
    shown = cases.get_case(svc, bo, case)
    assert [h["action"] for h in shown["history"]] == ["assign", "false_positive"]
    assert shown["actions_allowed"] == [] and shown["resolution"] == "false_positive"
    assert "*" in shown["listed"]["personal_id"]


def test_merge_persons_repoints_enrollments_without_conflict(
    svc: Services, world: WebWorld
) -> None:
    xa = officer(svc, "xa")
    dup_e, keep_e = world.clean_verified[0], world.clean_verified[1]
    with svc.db.begin() as conn:
        dup_row = conn.execute(select(enrollment).where(enrollment.c.id == dup_e)).one()
        keep_p = conn.execute(
            select(enrollment.c.person_id).where(enrollment.c.id == keep_e)
        ).scalar_one()
        values = {k: v for k, v in dup_row._mapping.items() if k != "id"}
        later = conn.execute(
            insert(enrollment).values({**values, "period": "2026-09"}).returning(enrollment.c.id)
        ).scalar_one()
        far_person = conn.execute(
            select(enrollment.c.person_id).where(enrollment.c.unit_id != world.commune_id).limit(1)
        ).scalar_one()
    case = open_case(svc, world, "identity_mismatch", dup_e)

    with pytest.raises(ValidationFailed) as missing:
        cases.resolve(svc, xa, case, "merge_persons", "Một người nhập hai lần")
    assert missing.value.problems[0].field == "merge_into"
    with pytest.raises(ValidationFailed) as far:
        cases.resolve(svc, xa, case, "merge_persons", "Một người", merge_into=far_person)
    assert far.value.problems[0].rule == "person.unknown"
    with pytest.raises(NotFound):
        cases.resolve(svc, officer(svc, "xakhac"), case, "merge_persons", "x", merge_into=keep_p)

    done = cases.resolve(
        svc, xa, case, "merge_persons", "Cùng số định danh cũ, nhập hai lần", merge_into=keep_p
    )
    assert done.detail["enrollments_moved"] == [later]
    assert done.detail["enrollments_kept"] == [dup_e]  # the survivor has this programme+period
    with svc.db.read() as conn:
        merged = conn.execute(
            select(person.c.merged_into_id).where(person.c.id == dup_row.person_id)
        ).scalar()
        owners = dict(
            conn.execute(
                select(enrollment.c.id, enrollment.c.person_id).where(
                    enrollment.c.id.in_((later, dup_e))
                )
            ).all()
        )
    assert merged == keep_p and owners == {later: keep_p, dup_e: dup_row.person_id}


def test_every_resolution_is_audited_in_one_valid_chain(svc: Services, world: WebWorld) -> None:
    xa = officer(svc, "xa")
    first = open_case(svc, world, "deceased", world.payable[2])
    second = open_case(svc, world, "not_found", world.clean_verified[2])
    cases.resolve(svc, xa, first, "cancel_entitlement", "Giấy báo tử")
    cases.resolve(svc, xa, second, "false_positive", "Đã tìm thấy bằng số CMND cũ")
    with svc.db.read() as conn:
        events = conn.execute(
            select(audit_event.c.action, audit_event.c.entity_id, audit_event.c.detail).where(
                audit_event.c.entity == "mismatch_case"
            )
        ).all()
        chain = audit.verify_chain(conn)
    assert {(e.action, e.entity_id) for e in events} == {
        ("case.cancel_entitlement", str(first)),
        ("case.false_positive", str(second)),
    }
    assert all(e.detail["reason"] for e in events) and chain.ok


def _suppressed(svc: Services) -> set[tuple[str, str]]:
    with svc.db.read() as conn:
        return cases.suppressed_findings(conn)


# -- CLI and API -----------------------------------------------------------------------------


@pytest.fixture
def run(ansinh: Any) -> Any:
    return ansinh


def test_cli_lists_shows_and_resolves_within_the_officers_scope(
    svc: Services, world: WebWorld, run: Any
) -> None:
    case = open_case(svc, world, "deceased", world.payable[2])
    listed = json.loads(run("cases", "list", "--type", "deceased", "--unit", "79", "--json"))
    assert case in [r["id"] for r in listed["cases"]]
    assert json.loads(run("cases", "list", "--older-than-days", "3", "--json"))["cases"] == []
    out = run("cases", "list", "--type", "deceased", "--as", "xakhac", "--json")
    assert case not in [r["id"] for r in json.loads(out)["cases"]]

    shown = json.loads(run("cases", "show", str(case), "--json"))
    pid = world.people[2][0]
    assert shown["type"] == "deceased" and pid not in json.dumps(shown)
    assert shown["listed"]["personal_id"] == pid[:3] + "*" * 7 + pid[-2:]  # masked
    hidden = run("cases", "show", str(case), "--as", "xakhac", code=1)
    assert "not_found: no case" in hidden

    refused = run(
        "cases",
        "resolve",
        str(case),
        "--action",
        "false_positive",
        "--reason",
        " ",
        "--as",
        "xa",
        code=1,
    )
    assert "reason" in refused and "phải ghi lý do" in refused
    done = json.loads(
        run(
            "cases",
            "resolve",
            str(case),
            "--action",
            "cancel_entitlement",
            "--reason",
            "Giấy báo tử số 7",
            "--as",
            "xa",
            "--json",
        )
    )
    assert done["status"] == "resolved" and done["from_state"] == "approved"
    again = run(
        "cases", "resolve", str(case), "--action", "false_positive", "--reason", "x", code=1
    )
    assert "case.already_resolved" in again
    history = json.loads(run("cases", "show", str(case), "--json"))["history"]
    assert (
        history[0]["actor"] == "xa (commune_officer)" and history[0]["reason"] == "Giấy báo tử số 7"
    )
    assert "audit chain intact" in run("audit", "verify")


def test_api_lists_reads_and_resolves_with_the_error_schema(
    client: Any, svc: Services, world: WebWorld
) -> None:
    case = open_case(svc, world, "deceased", world.payable[2])
    for n in range(3):
        open_case(svc, world, "not_found", world.clean_verified[n])
    xa, other = bearer(svc, "xa"), bearer(svc, "xakhac")
    assert client.get("/api/v1/cases").json["code"] == "auth.required"
    first = client.get("/api/v1/cases?unit=2025-07:26743&limit=2", headers=xa)
    assert first.status_code == 200 and len(first.json) == 2
    nxt = first.headers["X-Next-Cursor"]
    rest = client.get(f"/api/v1/cases?unit=26743&limit=2&after={nxt}", headers=xa).json
    ids = [r["id"] for r in first.json + rest]
    assert len(ids) == len(set(ids)) == 4 and case in ids
    only = client.get("/api/v1/cases?type=deceased&programme=ND20-TCXH", headers=xa).json
    assert [r["id"] for r in only] == [case] and only[0]["person"].endswith(".")
    assert client.get("/api/v1/cases?min_age_days=1", headers=xa).json == []
    assert client.get("/api/v1/cases?type=nonsense", headers=xa).status_code == 422
    assert client.get("/api/v1/cases", headers=other).json == []
    assert client.get(f"/api/v1/cases/{case}", headers=other).status_code == 404
    got = client.get(f"/api/v1/cases/{case}", headers=xa).json
    assert got["actions_allowed"] == ["cancel_entitlement", "false_positive"]

    url = f"/api/v1/cases/{case}/resolve"
    blank = client.post(url, json={"action": "cancel_entitlement", "reason": ""}, headers=xa)
    assert blank.status_code == 422 and blank.json["errors"][0]["field"] == "reason"
    assert blank.json["errors"][0]["message_vi"]
    assert client.post(url, json={"action": "x", "reason": "y"}, headers=xa).status_code == 422
    ok = client.post(url, json={"action": "cancel_entitlement", "reason": "Báo tử"}, headers=xa)
    assert ok.status_code == 200 and ok.json["status"] == "resolved"
    twice = client.post(url, json={"action": "false_positive", "reason": "Báo tử"}, headers=xa)
    assert twice.status_code == 409 and twice.json["code"] == "case.already_resolved"
    spec = client.get("/api/openapi.json").json
    assert {"/api/v1/cases", "/api/v1/cases/{case_id}", "/api/v1/cases/{case_id}/resolve"} <= set(
        spec["paths"]
    )
