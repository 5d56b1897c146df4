"""Registry events on SQLite and PostgreSQL: the change feed and pushed (SPDCI notify) death
notifications suspend entitlements and hold unsent payments, re-issued IDs replace the current
number keeping the old one, moves update residence — each applied once, with evidence."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from werkzeug.serving import make_server

from adapters import signing
from adapters.registry.port import ChangeEvent, Residence
from adapters.registry.simulator.store import Event
from gateway.db.tables import (
    admin_unit,
    enrollment,
    enrollment_transition,
    inbox_message,
    kv_state,
    payment_instruction,
    person,
    registry_event,
)
from gateway.security.principal import Actor
from gateway.services import enrollments, intake, people, registry_events
from gateway.services.context import Services
from tests.registry_support import (
    AN,
    BINH,
    DAO,
    SEED,
    make_simulator,
    rest_registry,
    running,
    seeded_fake,
    soap_registry,
)

SYSTEM = Actor.system("test")


def _setup(svc: Services) -> dict[str, int]:
    """Each seeded person enrolled and approved; AN also has a payment instruction not yet sent."""
    rows = [
        {
            "personal_id": p.pid,
            "full_name": p.full_name,
            "birth_date": p.birth.iso(),
            "gender": {"M": "Nam", "F": "Nữ"}[p.gender],
            "commune_code": "26743",
            "channel": "postoffice",
        }
        for p in SEED
    ]
    intake.import_rows(
        svc,
        SYSTEM,
        source_key="t/1",
        source_kind="fake",
        mapping="canonical",
        programme_code="ND20-TCXH",
        period="2026-07",
        content_hash="v1",
        rows=rows,
    )
    now = svc.clock()
    with svc.db.begin() as conn:
        ids = dict(
            conn.execute(
                select(person.c.pid_index, enrollment.c.id).join(
                    person, person.c.id == enrollment.c.person_id
                )
            ).all()
        )
        by_pid = {p.pid: ids[svc.vault.index(p.pid, b"pid")] for p in SEED}
        enrollments.bulk_transition(
            conn,
            list(by_pid.values()),
            "proposed",
            "verified",
            actor=SYSTEM,
            reason="test",
            now=now,
        )
        enrollments.bulk_transition(
            conn,
            list(by_pid.values()),
            "verified",
            "approved",
            actor=SYSTEM,
            reason="test",
            now=now,
        )
        conn.execute(
            insert(payment_instruction).values(
                enrollment_id=by_pid[AN.pid],
                attempt=1,
                idempotency_key="k-an",
                reference="REF-AN",
                channel="postoffice",
                amount=500_000,
                state="created",
                created_at=now,
            )
        )
    return by_pid


def _state(svc: Services, enrollment_id: int) -> str:
    with svc.db.read() as conn:
        return conn.execute(
            select(enrollment.c.state).where(enrollment.c.id == enrollment_id)
        ).scalar_one()


def _instruction(svc: Services) -> Any:
    with svc.db.read() as conn:
        return conn.execute(select(payment_instruction)).one()


def test_change_feed_applies_each_event_once(svc: Services) -> None:
    ids = _setup(svc)
    fake = seeded_fake()
    svc.registry = fake
    fake.emit(ChangeEvent("", "death", AN.pid, death_date=dt.date(2026, 7, 3)))
    fake.emit(ChangeEvent("", "reissue", BINH.pid, new_pid="001151999999"))
    fake.emit(ChangeEvent("", "move", DAO.pid, residence=Residence("2025-07", "00004")))
    fake.emit(ChangeEvent("", "death", "079000000000"))  # nobody we know
    summary = registry_events.pull_changes(svc, limit=2)
    assert (summary.events, summary.applied, summary.unknown_person) == (4, 3, 1)
    assert (summary.suspended, summary.held, summary.reissued, summary.moved) == (1, 1, 1, 1)
    assert _state(svc, ids[AN.pid]) == "suspended"
    held = _instruction(svc)
    assert (held.state, held.reason_code) == ("held", "MD07")
    with svc.db.read() as conn:
        reason = conn.execute(
            select(enrollment_transition.c.reason)
            .where(enrollment_transition.c.enrollment_id == ids[AN.pid])
            .order_by(enrollment_transition.c.id.desc())
        ).first()[0]
        assert "deceased per the population registry (2026-07-03" in reason
        assert people.find_by_pid(conn, svc.vault, "001151999999") == people.find_by_pid(
            conn, svc.vault, BINH.pid
        )
        assert (
            people.pid_of(conn, svc.vault, people.find_by_pid(conn, svc.vault, BINH.pid))
            == "001151999999"
        )
        unit = conn.execute(
            select(admin_unit.c.code)
            .join(person, person.c.residence_unit_id == admin_unit.c.id)
            .where(person.c.id == people.find_by_pid(conn, svc.vault, DAO.pid))
        ).scalar_one()
        assert unit == "00004"
        cursor = conn.execute(select(kv_state.c.value)).scalar_one()
        outcomes = sorted(conn.execute(select(registry_event.c.outcome)).scalars())
    assert cursor == "4"
    assert outcomes == ["applied", "applied", "applied", "unknown_person"]
    again = registry_events.pull_changes(svc)
    assert again.events == 0  # the cursor moved on
    with svc.db.begin() as conn:  # and an event seen twice is applied once
        replay = registry_events.apply_event(
            svc, conn, "feed:fake", "1", ChangeEvent("1", "death", AN.pid), SYSTEM, svc.clock()
        )
    assert replay.duplicates == 1


def test_change_feed_through_the_soap_simulator(
    svc: Services, tmp_path: Path, registry_certs: Path
) -> None:
    ids = _setup(svc)
    app = make_simulator(tmp_path, registry_certs)
    with running(app) as sim:
        svc.registry = soap_registry(sim)
        app.emit({"kind": "death", "pid": DAO.pid, "death_date": "2026-06-30"})
        summary = registry_events.pull_changes(svc)
    assert (summary.applied, summary.suspended) == (1, 1)
    assert _state(svc, ids[DAO.pid]) == "suspended"


# -- pushed notifications ------------------------------------------------------------------------


@pytest.fixture
def notifier(svc: Services, tmp_path: Path, registry_certs: Path):  # type: ignore[no-untyped-def]
    svc.settings = svc.settings.with_(
        security=replace(svc.settings.security, certs_dir=registry_certs)
    )
    return make_simulator(tmp_path, registry_certs)


def _death_message(notifier, pid: str, seq: int = 1, **switches: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    event = Event(seq, "death", pid, None, dt.date(2026, 7, 1), None)
    return notifier.rest.notification(event, replace(notifier.faults.switches, **switches))


def test_a_signed_death_notification_stops_payment_and_is_kept(
    svc: Services, client: Any, notifier: Any
) -> None:
    ids = _setup(svc)
    body = json.dumps(_death_message(notifier, AN.pid)).encode()
    answer = client.post("/api/v1/registry/notify", data=body, content_type="application/json")
    assert answer.status_code == 200, answer.json
    assert answer.json["message"]["ack_status"] == "ACK"
    assert (answer.json["message"]["suspended"], answer.json["message"]["held"]) == (1, 1)
    assert _state(svc, ids[AN.pid]) == "suspended"
    assert _instruction(svc).state == "held"
    resend = client.post("/api/v1/registry/notify", data=body, content_type="application/json")
    assert resend.json == answer.json  # the stored answer, nothing applied twice
    with svc.db.read() as conn:
        stored = conn.execute(select(inbox_message)).one()
        events = conn.execute(select(registry_event)).all()
    assert (stored.status, stored.kind) == ("applied", "registry.notify")
    assert AN.pid.encode() not in stored.body_enc  # evidence kept, encrypted
    assert len(events) == 1 and events[0].inbox_id == stored.id


def test_a_modified_resend_is_refused(svc: Services, client: Any, notifier: Any) -> None:
    _setup(svc)
    message = _death_message(notifier, AN.pid)
    client.post("/api/v1/registry/notify", json=message)
    other = _death_message(notifier, DAO.pid)
    other["header"]["message_id"] = message["header"]["message_id"]
    key = signing.load_signing_key(svc.settings.security.certs_dir, "registry-sim-1")
    other = signing.envelope(
        other["header"],
        other["message"],
        key=key,
        sender_id="registry-sim",
        key_id="registry-sim-1",
        namespace="dci",
    )
    answer = client.post("/api/v1/registry/notify", json=other)
    assert answer.status_code == 409
    assert answer.json["code"] == "rjct.message_id.duplicate"


@pytest.mark.parametrize(
    ("tamper", "status", "code"),
    [
        ("bad_signature", 401, "err.signature.invalid"),
        ("unsigned", 401, "err.signature.missing"),
        ("untrusted_sender", 401, "err.signature.sender"),
        ("not_json", 422, "validation_failed"),
    ],
)
def test_unauthenticated_or_malformed_notifications_are_refused_and_kept(
    svc: Services, client: Any, notifier: Any, tamper: str, status: int, code: str
) -> None:
    ids = _setup(svc)
    message = _death_message(notifier, AN.pid, bad_signature=tamper == "bad_signature")
    if tamper == "unsigned":
        message["signature"] = ""
    if tamper == "untrusted_sender":
        svc.settings = svc.settings.with_(
            registry=replace(svc.settings.registry, notify_senders="crvs=crvs-1")
        )
    body = b"{not json" if tamper == "not_json" else json.dumps(message).encode()
    answer = client.post("/api/v1/registry/notify", data=body, content_type="application/json")
    assert (answer.status_code, answer.json["code"]) == (status, code)
    assert answer.json["message"] and answer.json["message_vi"]
    assert _state(svc, ids[AN.pid]) == "approved"  # nothing applied
    with svc.db.read() as conn:
        kept = conn.execute(select(inbox_message)).one()
    assert (kept.status, kept.source) == ("rejected", "registry-notify:rejected")


@pytest.fixture
def gateway_url(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_registry_pushes_deaths_to_a_subscribed_gateway(
    svc: Services, notifier: Any, gateway_url: str, registry_certs: Path
) -> None:
    """Subscribe over REST, the registry records a death, the signed notification arrives at the
    gateway's endpoint over HTTP and stops the payment."""
    ids = _setup(svc)
    with running(notifier) as sim:
        registry = rest_registry(sim, registry_certs)
        code = registry.subscribe_deaths(f"{gateway_url}/api/v1/registry/notify")
        assert code
        notifier.emit({"kind": "death", "pid": BINH.pid})
        deadline = time.monotonic() + 15
        while _state(svc, ids[BINH.pid]) != "suspended" and time.monotonic() < deadline:
            time.sleep(0.05)
    assert _state(svc, ids[BINH.pid]) == "suspended"
