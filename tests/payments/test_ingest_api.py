"""Confirmation files through the HTTP API, on SQLite and PostgreSQL: malformed, schema-invalid
and hostile XML are each refused with a distinct code, kept as evidence (the bytes, encrypted)
and change no payment; a good statement settles once, is replayed when sent again, and a
different file under the same message id is refused as modified."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from sqlalchemy import func, select

from adapters.payments.iso20022 import bankfiles
from gateway.db.tables import inbound_rejection, inbox_message, payment_instruction
from gateway.services import confirm, disburse
from gateway.services.context import Services
from tests.payments import helpers as h

PATH = "/api/v1/payments/files?channel=bank"
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">&x;</Document>"""
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">&b;</Document>"""


def _camt054(msg_id: str, entries: list[bankfiles.Entry]) -> bytes:
    out = io.BytesIO()
    bankfiles.write_camt(
        out, "camt.054", msg_id, "1234567890", entries, created=dt.datetime.now(dt.UTC)
    )
    return out.getvalue()


def _sent(svc: Services, fakes: dict[str, Any], n: int) -> list[str]:
    h.approve(svc, fakes, n)
    made = disburse.create_instructions(svc, h.SYSTEM, "ND20-TCXH", "2026-07")
    disburse.send_batch(svc, h.SYSTEM, made.batches[0])
    with svc.db.read() as conn:
        return list(
            conn.execute(
                select(payment_instruction.c.reference).order_by(payment_instruction.c.id)
            ).scalars()
        )


def _states(svc: Services) -> list[str]:
    with svc.db.read() as conn:
        return sorted(conn.execute(select(payment_instruction.c.state)).scalars())


def test_bad_files_are_refused_with_distinct_codes_and_kept(svc: Services, fakes, client) -> None:
    refs = _sent(svc, fakes, 2)
    auth = h.token(svc, "ministry", "ministry_officer")
    good = _camt054("NTF-1", [bankfiles.Entry("B1", refs[0], 500_000, dt.date.today())])
    invalid = good.replace(b"<CdtDbtInd>DBIT</CdtDbtInd>", b"<CdtDbtInd>SIDEWAYS</CdtDbtInd>")
    cases = {
        "file.xml.malformed": good[: len(good) // 2],
        "file.xsd.invalid": invalid,
        "file.xml.forbidden": XXE,
    }
    for code, body in cases.items():
        answer = client.post(PATH, data=body, headers={**auth, "X-Filename": f"{code}.xml"})
        assert answer.status_code == 422, code
        assert answer.get_json()["code"] == code
        assert answer.get_json()["message_vi"]  # a person reads it: Vietnamese too
    expansion = client.post(PATH, data=BILLION_LAUGHS, headers=auth)
    assert expansion.get_json()["code"] == "file.xml.forbidden"
    assert _states(svc) == ["sent", "sent"]  # none of it moved a payment
    with svc.db.read() as conn:
        kept = conn.execute(select(inbound_rejection).order_by(inbound_rejection.c.id)).all()
        inbox = conn.execute(select(func.count()).select_from(inbox_message)).scalar_one()
    assert [r.code for r in kept] == [*cases, "file.xml.forbidden"]
    assert inbox == 0  # refused files never take an inbox slot
    for row, body in zip(kept, [*cases.values(), BILLION_LAUGHS], strict=True):
        assert confirm.open_body(svc, row.body_enc) == body  # the evidence, byte for byte
        assert row.content_hash == confirm.content_hash(body)
    listed = client.get(
        "/api/v1/payments/rejections", headers=h.token(svc, "audit", "auditor")
    ).get_json()
    assert sorted(r["code"] for r in listed) == sorted(r.code for r in kept)
    assert all("body_enc" not in r for r in listed)


def test_good_file_settles_once_replays_and_refuses_a_modified_copy(
    svc: Services, fakes, client
) -> None:
    refs = _sent(svc, fakes, 2)
    auth = h.token(svc, "ministry", "ministry_officer")
    entries = [bankfiles.Entry(f"B{i}", r, 500_000, dt.date.today()) for i, r in enumerate(refs)]
    good = _camt054("NTF-2", entries + entries[:1])  # the first line duplicated
    first = client.post(PATH, data=good, headers=auth)
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert body["kind"] == "camt.054" and body["items"] == 3 and not body["replay"]
    assert body["results"] == {"settled": 2, "duplicate_item": 1}
    upload = {"file": (io.BytesIO(good), "camt054.xml")}
    again = client.post(PATH, data=upload, headers=auth, content_type="multipart/form-data")
    assert again.get_json()["replay"] is True and again.get_json()["results"] == {}
    modified = _camt054("NTF-2", [bankfiles.Entry("B0", refs[0], 1, dt.date.today())])
    refused = client.post(PATH, data=modified, headers=auth)
    assert refused.status_code == 409
    assert refused.get_json()["code"] == "rjct.message_id.duplicate"
    assert _states(svc) == ["settled", "settled"]
    no_auth = client.post(PATH, data=good)
    assert no_auth.status_code == 401
