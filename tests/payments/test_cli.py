"""``ansinh payments …`` in-process against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from adapters.payments.iso20022 import bankfiles
from gateway.db.tables import payment_instruction
from gateway.services import disburse
from gateway.services.context import Services
from tests.payments import helpers as h
from tests.payments.test_iso20022 import FIXTURES


@pytest.fixture
def run(ansinh: Any) -> Any:
    return ansinh


def test_parse_prints_normalised_confirmations_or_the_reason(run) -> None:
    parsed = json.loads(
        run("payments", "parse", str(FIXTURES / "genkgo__camt/camt054.v8.xml"), "--json")
    )
    assert parsed["kind"] == "camt.054" and parsed["version"] == "camt.054.001.08"
    assert parsed["items"] and all("outcome" in i for i in parsed["items"])
    wrong = FIXTURES / "genkgo__camt/camt053.v2.wrong.xml"
    refused = run("payments", "parse", str(wrong), "--json", code=1)
    assert json.loads(refused.splitlines()[0])["code"] == "file.xsd.invalid"


def test_ingest_query_cancel_and_the_inbox(run, svc: Services, fakes, tmp_path: Path) -> None:
    h.approve(svc, fakes, 3)
    made = disburse.create_instructions(svc, h.SYSTEM, "ND20-TCXH", "2026-07")
    disburse.send_batch(svc, h.SYSTEM, made.batches[0])
    with svc.db.read() as conn:
        refs = list(conn.execute(select(payment_instruction.c.reference)).scalars())
    out = io.BytesIO()
    bankfiles.write_camt(
        out,
        "camt.054",
        "NTF-CLI",
        "1",
        [bankfiles.Entry("B1", refs[0], 500_000, dt.date.today())],
        created=dt.datetime.now(dt.UTC),
    )
    path = tmp_path / "camt054.xml"
    path.write_bytes(out.getvalue())
    first = json.loads(run("payments", "ingest", str(path), "--json"))
    assert first["results"] == {"settled": 1} and first["replay"] is False
    assert json.loads(run("payments", "ingest", str(path), "--json"))["replay"] is True
    assert json.loads(run("payments", "apply-inbox", "--json"))["pending"] == 0
    queried = json.loads(run("payments", "query-unknown", "--json"))
    assert queried["queried"] == 0  # not overdue yet: nothing is asked
    cancelled = json.loads(run("payments", "cancel", refs[0], "--reason", "test", "--json"))
    assert cancelled == {refs[0]: "not_cancellable_settled"}
    returns = json.loads(run("payments", "query-returns", "--json"))
    assert returns["queried"] == 1  # the settled one, inside the return window
