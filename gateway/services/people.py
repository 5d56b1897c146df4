"""Persons: find or create by personal ID through the blind index; numbers stay encrypted."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from gateway.db.tables import person, person_identifier
from gateway.domain.dates import BirthDate
from gateway.domain.names import fold, nfc
from gateway.security.vault import PiiVault, Purpose


@dataclass(frozen=True)
class PersonFacts:
    pid: str | None
    legacy_id: str | None
    full_name: str
    birth: BirthDate | None
    gender: str | None
    residence_unit_id: int | None = None
    household_id: int | None = None


def find_by_pid(conn: Connection, vault: PiiVault, pid: str) -> int | None:
    index = vault.index(pid, Purpose.PID)
    found = conn.execute(select(person.c.id).where(person.c.pid_index == index)).scalar()
    if found is not None:
        return int(found)
    # a re-issued number: the person is found through the identifier history
    old = conn.execute(
        select(person_identifier.c.person_id).where(
            person_identifier.c.kind == "pid", person_identifier.c.value_index == index
        )
    ).scalar()
    return None if old is None else int(old)


def find_by_legacy(conn: Connection, vault: PiiVault, legacy_id: str) -> int | None:
    index = vault.index(legacy_id, Purpose.LEGACY_ID)
    found = conn.execute(
        select(person_identifier.c.person_id).where(
            person_identifier.c.kind == "cmnd9", person_identifier.c.value_index == index
        )
    ).scalar()
    return None if found is None else int(found)


def find_or_create(
    conn: Connection, vault: PiiVault, facts: PersonFacts, *, source: str, now: dt.datetime
) -> tuple[int, bool]:
    """(person id, created?) — by personal ID first, then by legacy CMND number."""
    existing = None
    if facts.pid:
        existing = find_by_pid(conn, vault, facts.pid)
    if existing is None and facts.legacy_id:
        existing = find_by_legacy(conn, vault, facts.legacy_id)
    if existing is not None:
        return existing, False
    values = _person_values(facts, now)
    if facts.pid:
        values["pid_index"], values["pid_enc"] = vault.protect(facts.pid, Purpose.PID)
    person_id = int(conn.execute(insert(person).values(values).returning(person.c.id)).scalar_one())
    if facts.pid:
        add_identifier(conn, vault, person_id, "pid", facts.pid, source=source, now=now)
    if facts.legacy_id:
        add_identifier(conn, vault, person_id, "cmnd9", facts.legacy_id, source=source, now=now)
    return person_id, True


def _person_values(facts: PersonFacts, now: dt.datetime) -> dict[str, object]:
    name = nfc(facts.full_name)
    birth = facts.birth
    return {
        "full_name": name,
        "name_key": fold(name),
        "birth_year": birth.year if birth else None,
        "birth_month": birth.month if birth else None,
        "birth_day": birth.day if birth else None,
        "gender": facts.gender,
        "vital_status": "unknown",
        "residence_unit_id": facts.residence_unit_id,
        "household_id": facts.household_id,
        "created_at": now,
    }


def add_identifier(
    conn: Connection,
    vault: PiiVault,
    person_id: int,
    kind: str,
    value: str,
    *,
    source: str,
    now: dt.datetime,
) -> None:
    purpose = Purpose.PID if kind == "pid" else Purpose.LEGACY_ID
    index, enc = vault.protect(value, purpose)
    have = conn.execute(
        select(person_identifier.c.person_id).where(
            person_identifier.c.kind == kind, person_identifier.c.value_index == index
        )
    ).scalar()
    if have is None:
        conn.execute(
            insert(person_identifier).values(
                person_id=person_id,
                kind=kind,
                value_index=index,
                value_enc=enc,
                current=True,
                source=source,
                created_at=now,
            )
        )


def set_current_pid(
    conn: Connection, vault: PiiVault, person_id: int, pid: str, *, source: str, now: dt.datetime
) -> None:
    """Attach a (resolved or re-issued) personal ID; earlier numbers stay in the history."""
    index, enc = vault.protect(pid, Purpose.PID)
    conn.execute(
        update(person_identifier)
        .where(
            person_identifier.c.person_id == person_id,
            person_identifier.c.kind == "pid",
            person_identifier.c.value_index != index,
        )
        .values(current=False, retired_at=now)
    )
    conn.execute(
        update(person)
        .where(person.c.id == person_id)
        .values(pid_index=index, pid_enc=enc, updated_at=now)
    )
    add_identifier(conn, vault, person_id, "pid", pid, source=source, now=now)


def pid_of(conn: Connection, vault: PiiVault, person_id: int) -> str | None:
    enc = conn.execute(select(person.c.pid_enc).where(person.c.id == person_id)).scalar()
    return None if enc is None else vault.decrypt(enc, Purpose.PID)


def birth_of(row: Any) -> BirthDate | None:
    year = getattr(row, "birth_year", None)
    if year is None:
        return None
    return BirthDate(year, getattr(row, "birth_month", None), getattr(row, "birth_day", None))
