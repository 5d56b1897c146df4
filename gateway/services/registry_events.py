"""What the registry tells us happened: deaths, re-issued ID numbers, residence moves.

Two ways in, one way of applying:

* ``pull_changes`` reads the change feed from the cursor kept in ``kv_state``; each page's events
  and the new cursor are written in one transaction, so a crash re-reads at most one page and
  ``registry_event``'s unique (source, key) applies nothing twice.
* ``receive_notification`` takes an SPDCI ``notify`` message (a CRVS death notification): the
  signed envelope is verified against the sender's published key, stored once in
  ``inbox_message`` as evidence, then applied.

A death suspends the person's open entitlements (proposed, verified, approved → suspended) and
holds payment instructions not yet sent (created → held, reason MD07 EndCustomerDeceased); a
re-issued number becomes the person's current ID with the old one kept in the history; a move
updates the residence when the commune is known. Every change carries actor and reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select, update

from adapters.registry.port import ChangeEvent, Residence
from gateway.db.dialect import insert_ignore
from gateway.db.tables import (
    admin_unit,
    enrollment,
    kv_state,
    payment_instruction,
    person,
    registry_event,
)
from gateway.domain.states import EnrollmentState, InstructionState
from gateway.security.principal import Actor
from gateway.services import audit, enrollments, people
from gateway.services.context import Services

OPEN_STATES = (EnrollmentState.PROPOSED, EnrollmentState.VERIFIED, EnrollmentState.APPROVED)
DECEASED_REASON = "MD07"  # ISO 20022 EndCustomerDeceased


@dataclass
class EventsSummary:
    events: int = 0
    applied: int = 0
    duplicates: int = 0
    unknown_person: int = 0
    suspended: int = 0
    held: int = 0
    reissued: int = 0
    moved: int = 0
    cursor: str | None = None

    def add(self, other: EventsSummary) -> None:
        for name in (
            "events",
            "applied",
            "duplicates",
            "unknown_person",
            "suspended",
            "held",
            "reissued",
            "moved",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def cursor_name(svc: Services) -> str:
    return f"registry.changes.cursor:{svc.registry.name}"


def read_cursor(conn: Connection, name: str) -> str | None:
    return conn.execute(select(kv_state.c.value).where(kv_state.c.name == name)).scalar()


def _save_cursor(conn: Connection, name: str, value: str, now: dt.datetime) -> None:
    updated = conn.execute(
        update(kv_state).where(kv_state.c.name == name).values(value=value, updated_at=now)
    ).rowcount
    if not updated:
        conn.execute(insert_ignore(conn, kv_state).values(name=name, value=value, updated_at=now))


def pull_changes(svc: Services, *, limit: int = 500, max_pages: int = 100) -> EventsSummary:
    """Apply the feed from the stored cursor until it is exhausted (or ``max_pages``)."""
    summary = EventsSummary()
    name = cursor_name(svc)
    actor = Actor.system("registry-change-feed")
    with svc.db.read() as conn:
        cursor = read_cursor(conn, name)
    for _ in range(max_pages):
        page = svc.registry.changes(cursor, limit)
        now = svc.clock()
        with svc.db.begin() as conn:
            for event in page.events:
                one = apply_event(
                    svc, conn, f"feed:{svc.registry.name}", event.cursor, event, actor, now
                )
                summary.add(one)
            if page.next_cursor and page.next_cursor != cursor:
                _save_cursor(conn, name, page.next_cursor, now)
        if not page.events or page.next_cursor in (None, cursor):
            break
        cursor = page.next_cursor
    summary.cursor = cursor
    return summary


def apply_event(
    svc: Services,
    conn: Connection,
    source: str,
    key: str,
    event: ChangeEvent,
    actor: Actor,
    now: dt.datetime,
    *,
    inbox_id: int | None = None,
) -> EventsSummary:
    """Record the event once (source, key) and act on it; a repeat does nothing."""
    s = EventsSummary(events=1)
    person_id = people.find_by_pid(conn, svc.vault, event.pid) if event.pid else None
    detail: dict[str, Any] = {"kind": event.kind}
    if event.death_date:
        detail["death_date"] = event.death_date.isoformat()
    if event.residence:
        detail["residence"] = f"{event.residence.scheme}:{event.residence.commune_code}"
    if event.kind not in ("death", "reissue", "move"):
        return s  # a kind we do not act on; not recorded (the check constraint lists ours)
    inserted = conn.execute(
        insert_ignore(conn, registry_event)
        .values(
            source=source,
            event_key=key[:128],
            kind=event.kind,
            person_id=person_id,
            inbox_id=inbox_id,
            outcome="applied" if person_id else "unknown_person",
            detail=detail,
            received_at=now,
            applied_at=now,
        )
        .returning(registry_event.c.id)  # rowcount is not reliable for ON CONFLICT on psycopg
    ).scalar()
    if inserted is None:
        s.duplicates += 1
        return s
    if person_id is None:
        s.unknown_person += 1
        return s
    s.applied += 1
    if event.kind == "death":
        _death(conn, person_id, event.death_date, actor, source, now, s)
    elif event.kind == "reissue" and event.new_pid:
        people.set_current_pid(
            conn, svc.vault, person_id, event.new_pid, source="registry", now=now
        )
        s.reissued += 1
    elif event.kind == "move" and event.residence:
        _move(conn, person_id, event.residence, now, s)
    audit.record(
        conn,
        actor,
        f"registry.{event.kind}",
        "person",
        person_id,
        purpose="apply a registry change event",
        detail={"source": source, **detail},
        at=now,
    )
    return s


def _death(
    conn: Connection,
    person_id: int,
    death_date: dt.date | None,
    actor: Actor,
    source: str,
    now: dt.datetime,
    s: EventsSummary,
) -> None:
    conn.execute(
        update(person)
        .where(person.c.id == person_id)
        .values(
            vital_status="deceased", death_date=death_date, registry_checked_at=now, updated_at=now
        )
    )
    when = death_date.isoformat() if death_date else "date unknown"
    open_ids = (
        conn.execute(
            select(enrollment.c.id).where(
                enrollment.c.person_id == person_id, enrollment.c.state.in_(OPEN_STATES)
            )
        )
        .scalars()
        .all()
    )
    for enrollment_id in open_ids:
        enrollments.transition(
            conn,
            int(enrollment_id),
            EnrollmentState.SUSPENDED,
            actor=actor,
            reason=f"deceased per the population registry ({when}; {source})",
            now=now,
        )
        s.suspended += 1
    s.held += conn.execute(
        update(payment_instruction)
        .where(
            payment_instruction.c.state == InstructionState.CREATED,
            payment_instruction.c.enrollment_id.in_(
                select(enrollment.c.id).where(enrollment.c.person_id == person_id)
            ),
        )
        .values(
            state=InstructionState.HELD,
            reason_code=DECEASED_REASON,
            reason_text=f"held: payee deceased per the registry ({when})",
            state_changed_at=now,
        )
    ).rowcount


def _move(
    conn: Connection, person_id: int, residence: Residence, now: dt.datetime, s: EventsSummary
) -> None:
    unit_id = conn.execute(
        select(admin_unit.c.id).where(
            admin_unit.c.scheme == residence.scheme,
            admin_unit.c.level == "commune",
            admin_unit.c.code == residence.commune_code.zfill(5),
        )
    ).scalar()
    if unit_id is not None:
        conn.execute(
            update(person)
            .where(person.c.id == person_id)
            .values(residence_unit_id=unit_id, updated_at=now)
        )
    s.moved += 1


# -- pushed notifications (SPDCI notify) -------------------------------------------------------


@dataclass
class Notification:
    sender: str
    message_id: str
    body: bytes
    events: list[tuple[str, ChangeEvent]] = field(default_factory=list)  # (reference, event)


def content_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def death_events(message: dict[str, Any]) -> list[tuple[str, ChangeEvent]]:
    """(reference, death event) for every record of every ``notify_event`` (CRVS shape)."""
    out: list[tuple[str, ChangeEvent]] = []
    for i, item in enumerate(message.get("notify_event") or []):
        data = (item or {}).get("data") or {}
        if data.get("reg_record_type") not in ("death", "Death", "DEATH"):
            continue
        for j, record in enumerate(data.get("reg_records") or []):
            pid = _pid(record.get("identifier") or [])
            when = record.get("death_date")
            event = ChangeEvent(
                cursor="",
                kind="death",
                pid=pid or "",
                death_date=dt.date.fromisoformat(when[:10]) if when else None,
            )
            out.append((f"{item.get('reference_id') or i}:{j}", event))
    return out


def _pid(identifiers: Sequence[dict[str, Any]]) -> str | None:
    for ident in identifiers:
        if ident.get("identifier_type") in ("PID", "UIN", "NID"):
            return str(ident.get("identifier_value") or "") or None
    return None
