"""The database itself carries the invariants (ARCHITECTURE.md §4), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from gateway.db import migrate
from gateway.db.tables import (
    admin_unit,
    audit_event,
    enrollment,
    inbox_message,
    metadata,
    mismatch_case,
    payment_instruction,
    person,
    programme,
    tick,
)
from gateway.services.context import Services

NOW = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)


def _person(conn, key: bytes) -> int:
    return conn.execute(
        insert(person)
        .values(
            pid_index=key,
            full_name="Nguyễn Văn A",
            name_key="nguyen van a",
            vital_status="alive",
            created_at=NOW,
        )
        .returning(person.c.id)
    ).scalar_one()


def _enrollment(conn, person_id: int, period: str = "2026-07") -> int:
    prog = conn.execute(select(programme.c.id).where(programme.c.code == "ND20-TCXH")).scalar_one()
    unit = conn.execute(select(admin_unit.c.id).limit(1)).scalar_one()
    return conn.execute(
        insert(enrollment)
        .values(
            programme_id=prog,
            period=period,
            person_id=person_id,
            unit_id=unit,
            amount=500_000,
            state="approved",
            channel="bank",
            created_at=NOW,
        )
        .returning(enrollment.c.id)
    ).scalar_one()


def _instruction(conn, enrollment_id: int, attempt: int, state: str) -> None:
    conn.execute(
        insert(payment_instruction).values(
            enrollment_id=enrollment_id,
            attempt=attempt,
            idempotency_key=f"k{enrollment_id}:{attempt}",
            reference=f"R{enrollment_id}-{attempt}",
            channel="bank",
            amount=500_000,
            state=state,
            created_at=NOW,
        )
    )


def test_migrations_reach_one_head_with_every_table(svc: Services) -> None:
    assert len(migrate.current_heads(svc.db.engine)) == 1
    with svc.db.read() as conn:
        for table in metadata.sorted_tables:
            conn.execute(select(table).limit(1)).all()


def test_one_enrollment_per_programme_period_person(svc: Services) -> None:
    with svc.db.begin() as conn:
        p = _person(conn, b"a" * 16)
        _enrollment(conn, p)
    with pytest.raises(IntegrityError), svc.db.begin() as conn:
        _enrollment(conn, p)


def test_at_most_one_live_or_settled_instruction_per_enrollment(svc: Services) -> None:
    with svc.db.begin() as conn:
        e = _enrollment(conn, _person(conn, b"b" * 16))
        _instruction(conn, e, 1, "rejected")
        _instruction(conn, e, 2, "settled")  # a rejected attempt does not block a new one
    with pytest.raises(IntegrityError), svc.db.begin() as conn:
        _instruction(conn, e, 3, "sent")
    with pytest.raises(IntegrityError), svc.db.begin() as conn:
        _instruction(conn, e, 2, "rejected")  # (enrollment, attempt) is unique too


def test_one_active_tick_per_person_group_period(svc: Services) -> None:
    with svc.db.begin() as conn:
        p = _person(conn, b"c" * 16)
        values = {
            "person_id": p,
            "exclusion_group": "g",
            "period": "2026-07",
            "programme_code": "ND20-TCXH",
            "source": "local",
            "created_at": NOW,
        }
        conn.execute(insert(tick).values(**values, state="withdrawn"))
        conn.execute(insert(tick).values(**values, state="active"))
    with pytest.raises(IntegrityError), svc.db.begin() as conn:
        conn.execute(insert(tick).values(**values, state="active"))


def test_inbox_message_stored_once(svc: Services) -> None:
    row = {
        "source": "bank:x",
        "message_id": "m1",
        "content_hash": "h",
        "kind": "on-disburse",
        "body_enc": b"...",
        "headers": {},
        "status": "received",
        "received_at": NOW,
    }
    with svc.db.begin() as conn:
        conn.execute(insert(inbox_message).values(row))
    with pytest.raises(IntegrityError), svc.db.begin() as conn:
        conn.execute(insert(inbox_message).values(row))


def test_one_open_case_per_cause(svc: Services) -> None:
    row = {"type": "approved_unpaid", "dedup_key": "e:1", "evidence": {}, "opened_at": NOW}
    with svc.db.begin() as conn:
        conn.execute(insert(mismatch_case).values({**row, "status": "closed"}))
        conn.execute(insert(mismatch_case).values({**row, "status": "open"}))
    with pytest.raises(IntegrityError), svc.db.begin() as conn:
        conn.execute(insert(mismatch_case).values({**row, "status": "open"}))


def test_audit_events_cannot_be_changed_or_deleted(svc: Services) -> None:
    from gateway.services import audit

    with svc.db.begin() as conn:
        audit.record(conn, "tester", "test.event", "thing", 1, purpose="test")
    with pytest.raises(DBAPIError), svc.db.begin() as conn:
        conn.execute(update(audit_event).values(actor="someone else"))
    with pytest.raises(DBAPIError), svc.db.begin() as conn:
        conn.execute(text("DELETE FROM audit_event"))
    with svc.db.read() as conn:
        assert conn.execute(select(audit_event.c.actor)).scalars().all() == ["tester"]


def test_migrations_build_exactly_the_tables_the_code_declares(svc: Services) -> None:
    """Every migration together (0001 and each area's 0002) against gateway/db/tables: no
    missing or extra table, column, type, index or constraint."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with svc.db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_a_reported_item_is_stored_once_per_source(svc: Services) -> None:
    from gateway.db.tables import confirmation

    row = {
        "reference": "R1",
        "source": "bank:x",
        "item_key": "R1:succ",
        "outcome": "settled",
        "received_at": NOW,
    }
    with svc.db.begin() as conn:
        conn.execute(insert(confirmation).values(row))
        conn.execute(insert(confirmation).values({**row, "source": "postoffice"}))
    with pytest.raises(IntegrityError), svc.db.begin() as conn:
        conn.execute(insert(confirmation).values(row))
