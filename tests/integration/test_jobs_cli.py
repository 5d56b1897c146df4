"""``ansinh jobs list / run / runs`` end to end (in-process CLI, real database on SQLite and
PostgreSQL): the reconciliation and outbox jobs on a small paid cycle."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from adapters.payments.port import ConfirmationItem, InboundMessage
from gateway.cli.jobs import EXIT_SKIPPED
from gateway.db.tables import audit_event, job_run, outbox_message
from gateway.services import confirm, disburse, jobs
from gateway.services.context import Services
from gateway.services.ticks import TICK_TOPIC
from tests.payments import helpers as h


@pytest.fixture
def run(ansinh: Any) -> Any:
    """The command line; its ``--json`` output parsed."""

    def invoke(*args: str, code: int = 0) -> Any:
        out = ansinh(*args, code=code)
        return json.loads(out) if "--json" in args else out

    return invoke


def _paid_cycle_with_a_duplicate(svc: Services, fakes: dict[str, Any]) -> None:
    """Three paid bank payments (three ticks waiting in the outbox), one settled twice."""
    h.approve(svc, fakes, 3)
    made = disburse.create_instructions(svc, h.SYSTEM, "ND20-TCXH", "2026-07")
    assert disburse.send_batch(svc, h.SYSTEM, made.batches[0]).sent == 3
    for msg in fakes["bank"].fetch_confirmations():
        confirm.receive_and_apply(svc, msg)
    ref = msg.items[0].reference
    again = InboundMessage(
        msg.source,
        "stmt-dup",
        "camt.054",
        b"{}",
        (ConfirmationItem(ref, "stmt-dup:1", "settled", msg.items[0].amount),),
    )
    _, applied = confirm.receive_and_apply(svc, again)
    assert applied.results == {"duplicate_settlement": 1}


def _pending_ticks(svc: Services) -> int:
    with svc.db.read() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(outbox_message)
                .where(outbox_message.c.topic == TICK_TOPIC, outbox_message.c.status == "pending")
            ).scalar_one()
        )


def test_jobs_run_reconcile_and_outbox_end_to_end(run, svc: Services, fakes) -> None:
    _paid_cycle_with_a_duplicate(svc, fakes)
    assert _pending_ticks(svc) == 3

    sent = run("jobs", "run", "outbox.dispatch", "--json")
    assert sent["outcome"] == "succeeded" and sent["trigger_key"].startswith("manual:")
    assert (sent["counts"]["sent"], sent["counts"]["retried"], sent["counts"]["dead"]) == (3, 0, 0)
    assert _pending_ticks(svc) == 0
    assert run("jobs", "run", "outbox.dispatch", "--json")["counts"]["sent"] == 0

    full = run("jobs", "run", "reconcile.full", "--json")
    assert full["outcome"] == "succeeded"
    assert full["counts"]["by_type"].get("duplicate_payment") == 1
    assert full["counts"]["opened"] >= 1
    again = run("jobs", "run", "reconcile.incremental", "--json")
    assert again["outcome"] == "succeeded" and again["counts"]["opened"] == 0

    listed = {j["name"]: j for j in run("jobs", "list", "--json")}
    assert {"reconcile.full", "reconcile.incremental", "outbox.dispatch"} <= set(listed)
    assert listed["reconcile.full"]["last_outcome"] == "succeeded"
    assert listed["reconcile.full"]["schedule"] == "cron 30 1 * * *"
    assert listed["outbox.dispatch"]["next_fire"].endswith("+00:00")
    assert listed["payments.query_unknown"]["last_outcome"] is None

    recent = run("jobs", "runs", "--json")
    assert [r["job"] for r in recent[:2]] == ["reconcile.incremental", "reconcile.full"]
    only = run("jobs", "runs", "--job", "outbox.dispatch", "--json")
    assert len(only) == 2 and {r["outcome"] for r in only} == {"succeeded"}
    assert "reconcile.full" in run("jobs", "runs")  # the table for people


def test_jobs_run_is_skipped_while_another_run_holds_the_lock(run, svc: Services) -> None:
    with jobs.job_lock_held(svc, "reconcile", "other-replica:1") as held:
        assert held
        skipped = run("jobs", "run", "reconcile.incremental", "--json", code=EXIT_SKIPPED)
    assert skipped["outcome"] == "skipped" and skipped["counts"] == {"reason": "overlap"}
    assert run("jobs", "run", "reconcile.incremental", "--json")["outcome"] == "succeeded"
    with svc.db.read() as conn:
        outcomes = sorted(conn.execute(select(job_run.c.outcome)).scalars())
    assert outcomes == ["skipped", "succeeded"]


def test_unknown_job_names_and_every_without_only_are_refused(run) -> None:
    assert "no such job: nope" in run("jobs", "run", "nope", code=1)
    assert "--every needs --only" in run("scheduler", "--every", "1", code=2)
    assert "no such job" in run("scheduler", "--only", "nope", code=1)


def test_operators_list_and_retry_dead_letters(run, svc: Services) -> None:
    now = svc.clock()
    with svc.db.begin() as conn:
        conn.execute(
            insert(outbox_message).values(
                topic=TICK_TOPIC,
                dedup_key="tick:dead",
                payload={},
                status="dead",
                attempts=8,
                last_error="registry.unavailable: registry did not answer",
                next_attempt_at=now,
                created_at=now,
            )
        )
    (dead,) = run("jobs", "dead-letters", "--json")
    assert dead["attempts"] == 8 and dead["last_error"].startswith("registry.unavailable")
    assert "queued again" in run("jobs", "retry-dead", str(dead["id"]))
    assert run("jobs", "dead-letters", "--json") == []
    assert "outbox.not_dead" in run("jobs", "retry-dead", str(dead["id"]), code=1)
    with svc.db.read() as conn:
        status = conn.execute(select(outbox_message.c.status)).scalar_one()
        audited = conn.execute(
            select(func.count())
            .select_from(audit_event)
            .where(audit_event.c.action == "outbox.retry")
        ).scalar_one()
    assert status == "pending" and audited == 1
