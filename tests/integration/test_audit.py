"""The audit trail is hash-chained; ``verify_chain`` names the first broken link."""

from __future__ import annotations

from sqlalchemy import text

from gateway.services import audit
from gateway.services.context import Services


def _events(svc: Services, n: int) -> None:
    with svc.db.begin() as conn:
        for i in range(n):
            audit.record(
                conn,
                "officer",
                "case.resolve",
                "mismatch_case",
                i,
                purpose="reconciliation",
                detail={"reason": f"checked {i}", "n": i},
            )


def _tamper(svc: Services, sql: str) -> None:
    """What an attacker with direct database access would do (triggers switched off)."""
    with svc.db.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_change"))
            conn.execute(text(sql))
            conn.execute(text("ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_change"))
        else:
            conn.execute(text("DROP TRIGGER audit_event_no_update"))
            conn.execute(text("DROP TRIGGER audit_event_no_delete"))
            conn.execute(text(sql))


def test_intact_chain_verifies(svc: Services) -> None:
    _events(svc, 12)
    with svc.db.read() as conn:
        report = audit.verify_chain(conn, batch=5)
    assert report.ok and report.events == 12


def test_edited_event_is_named(svc: Services) -> None:
    _events(svc, 6)
    _tamper(svc, "UPDATE audit_event SET actor = 'someone else' WHERE id = 4")
    with svc.db.read() as conn:
        report = audit.verify_chain(conn)
    assert not report.ok and report.broken_at == 4 and "hash" in (report.reason or "")


def test_deleted_event_breaks_the_next_link(svc: Services) -> None:
    _events(svc, 6)
    _tamper(svc, "DELETE FROM audit_event WHERE id = 3")
    with svc.db.read() as conn:
        report = audit.verify_chain(conn)
    assert not report.ok and report.broken_at == 4 and "prev_hash" in (report.reason or "")
