"""Writing one verified chunk: every person's outcome, the flags officers see, and proposed →
verified for clean matches — all in one transaction, set-based (executemany), so a chunk is
either wholly recorded or not at all (a crash loses no recorded result and records nothing twice).

Outcomes and their codes (``registry_verification.outcome`` / ``error_code``):

=============  ==========================  ========================================
outcome        error_code                  meaning
=============  ==========================  ========================================
match          –                           registry agrees; enrollment → verified
mismatch       –                           name/birth/gender/ID digits disagree (flag)
deceased       –                           dead in the registry (flag)
not_found      registry.unknown_id         no such personal ID (flag)
rejected       registry.malformed_id       registry refused the ID (flag; not retried)
error          registry.fault, .timeout,   the registry could not answer for this
               .hostile_xml, …             person; retried by the next run
=============  ==========================  ========================================
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, String, bindparam, insert, literal, select, update
from sqlalchemy.sql.elements import BindParameter

from adapters.registry import errors
from adapters.registry.port import FieldOutcome, VerifyRequest, VerifyResult
from gateway.db.dialect import insert_ignore
from gateway.db.tables import enrollment, enrollment_transition, flag, person, registry_verification
from gateway.domain.states import EnrollmentState, FlagKind, check_enrollment_transition
from gateway.security.principal import Actor

PERMANENT = frozenset({errors.MALFORMED_ID})


@dataclass
class VerifySummary:
    total: int = 0
    checked: int = 0
    verified: int = 0
    not_found: int = 0
    deceased: int = 0
    mismatched: int = 0
    rejected: int = 0
    legacy_resolved: int = 0
    legacy_unresolved: int = 0
    merged: int = 0
    errors: int = 0
    error_codes: dict[str, int] = field(default_factory=dict)
    run_id: int | None = None
    resumed: bool = False
    seconds: float = 0.0

    def count_error(self, code: str) -> None:
        self.errors += 1
        self.error_codes[code] = self.error_codes.get(code, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Chunk:
    """Persons sent in one registry call, and the enrollments each answer applies to."""

    requests: list[VerifyRequest]
    by_ref: dict[str, list[tuple[int, int]]]  # ref -> [(enrollment id, person id)]

    @property
    def size(self) -> int:
        return sum(len(v) for v in self.by_ref.values())


@dataclass
class _Writes:
    """What one chunk writes, grouped so that each group is one set-based statement: a batch
    of 500 persons is typically five INSERT … SELECT statements, not 1,500 rows of parameters."""

    verifications: dict[
        tuple[str, tuple[tuple[str, str], ...], str | None, str | None], list[int]
    ] = field(default_factory=dict)  # (outcome, fields, vital status, error code) -> enrollments
    flags: list[dict[str, Any]] = field(default_factory=list)
    people: dict[tuple[str, dt.date | None], list[int]] = field(default_factory=dict)
    verified: list[int] = field(default_factory=list)


def record_chunk(
    conn: Connection,
    chunk: Chunk,
    results: Sequence[VerifyResult],
    *,
    actor: Actor,
    source: str,
    summary: VerifySummary,
    now: dt.datetime,
) -> None:
    writes = _Writes()
    answered = {r.ref: r for r in results}
    for ref, targets in chunk.by_ref.items():
        result = answered.get(ref) or VerifyResult(ref, False, error_code=errors.MALFORMED_RESPONSE)
        for enrollment_id, person_id in targets:
            _one(writes, enrollment_id, person_id, result, summary)
    for (outcome, fields, vital, code), ids in writes.verifications.items():
        _insert_verifications(conn, ids, outcome, dict(fields), vital, code, source, now)
    if writes.flags:
        for row in writes.flags:
            row["created_at"] = now
        conn.execute(insert_ignore(conn, flag), writes.flags)
    for (vital, death), person_ids in writes.people.items():
        for part in _parts(person_ids):
            conn.execute(_UPDATE_PEOPLE, {"ids": part, "vital": vital, "death": death, "now": now})
    if writes.verified:
        _mark_verified(conn, writes.verified, actor, f"registry match ({source})", now)


def _parts(ids: Sequence[int], size: int = 900) -> list[list[int]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


_RV_COLUMNS = (
    "person_id",
    "enrollment_id",
    "outcome",
    "fields",
    "vital_status",
    "error_code",
    "source",
    "checked_at",
)
_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
# built once: a chunk runs these statements with new values, so SQLAlchemy reuses their
# compiled form instead of building and coercing a fresh statement per chunk (it showed)
_INSERT_VERIFICATIONS = insert(registry_verification).from_select(
    _RV_COLUMNS,
    select(
        enrollment.c.person_id,
        enrollment.c.id,
        bindparam("outcome", type_=String),
        bindparam("fields", type_=registry_verification.c.fields.type),
        bindparam("vital", type_=String),
        bindparam("code", type_=String),
        bindparam("source", type_=String),
        bindparam("now", type_=registry_verification.c.checked_at.type),
    ).where(enrollment.c.id.in_(_IDS)),
)
_UPDATE_PEOPLE = (
    update(person)
    .where(person.c.id.in_(_IDS))
    .values(
        vital_status=bindparam("vital", type_=String),
        death_date=bindparam("death", type_=person.c.death_date.type),
        registry_checked_at=bindparam("now", type_=person.c.registry_checked_at.type),
        updated_at=bindparam("now", type_=person.c.updated_at.type),
    )
)
# by primary key: on the (state, unit) index SQLite would read every proposed row
_STILL_PROPOSED = (
    enrollment.c.id.in_(_IDS),
    enrollment.c.state.concat("") == EnrollmentState.PROPOSED.value,
)
_INSERT_VERIFIED_TRANSITIONS = insert(enrollment_transition).from_select(
    ["enrollment_id", "from_state", "to_state", "actor", "reason", "at"],
    select(
        enrollment.c.id,
        literal(EnrollmentState.PROPOSED.value, String),
        literal(EnrollmentState.VERIFIED.value, String),
        bindparam("actor", type_=String),
        bindparam("reason", type_=String),
        bindparam("now", type_=enrollment_transition.c.at.type),
    ).where(*_STILL_PROPOSED),
)
_MARK_VERIFIED = (
    update(enrollment)
    .where(*_STILL_PROPOSED)
    .values(
        state=EnrollmentState.VERIFIED.value,
        updated_at=bindparam("now", type_=enrollment.c.updated_at.type),
    )
)


def _insert_verifications(
    conn: Connection,
    enrollment_ids: Sequence[int],
    outcome: str,
    fields: dict[str, str],
    vital: str | None,
    code: str | None,
    source: str,
    now: dt.datetime,
) -> None:
    values = {
        "outcome": outcome,
        "fields": fields,
        "vital": vital,
        "code": code,
        "source": source,
        "now": now,
    }
    for part in _parts(enrollment_ids):
        conn.execute(_INSERT_VERIFICATIONS, {**values, "ids": part})


def _mark_verified(
    conn: Connection, ids: Sequence[int], actor: Actor, reason: str, now: dt.datetime
) -> None:
    """proposed → verified with one transition row each, set-based."""
    check_enrollment_transition(EnrollmentState.PROPOSED, EnrollmentState.VERIFIED)
    for part in _parts(ids):
        values = {"ids": part, "actor": actor.label(), "reason": reason, "now": now}
        conn.execute(_INSERT_VERIFIED_TRANSITIONS, values)
        conn.execute(_MARK_VERIFIED, {"ids": part, "now": now})


def _one(
    w: _Writes,
    enrollment_id: int,
    person_id: int,
    result: VerifyResult,
    summary: VerifySummary,
) -> None:
    summary.checked += 1

    def store(outcome: str, fields: dict[str, str], vital: str | None, code: str | None) -> None:
        key = (outcome, tuple(sorted(fields.items())), vital, code)
        w.verifications.setdefault(key, []).append(enrollment_id)

    def flag_(kind: str, detail: dict[str, Any], key: str = "") -> None:
        w.flags.append(
            {
                "enrollment_id": enrollment_id,
                "kind": kind,
                "detail_key": key,
                "detail": detail,
                "status": "open",
            }
        )

    if result.error_code in PERMANENT:
        summary.rejected += 1
        store("rejected", {}, None, result.error_code)
        flag_(FlagKind.NOT_FOUND, {"error_code": result.error_code}, "rejected")
        return
    if result.error_code:
        summary.count_error(result.error_code)
        store("error", {}, None, result.error_code)
        return
    fields = {k: str(v) for k, v in result.fields.items()}
    if result.name_match is not None:
        fields["name_match"] = str(result.name_match)
    if not result.found:
        summary.not_found += 1
        store("not_found", fields, None, errors.UNKNOWN_ID)
        flag_(FlagKind.NOT_FOUND, {"error_code": errors.UNKNOWN_ID})
        return
    w.people.setdefault((result.vital_status or "unknown", result.death_date), []).append(person_id)
    if result.vital_status == "deceased":
        summary.deceased += 1
        store("deceased", fields, "deceased", None)
        death = result.death_date.isoformat() if result.death_date else None
        flag_(FlagKind.DECEASED, {"death_date": death})
        return
    mismatched = sorted(k for k, v in result.fields.items() if v == FieldOutcome.MISMATCH)
    if mismatched:
        summary.mismatched += 1
        store("mismatch", fields, result.vital_status, None)
        flag_(FlagKind.IDENTITY_MISMATCH, {"fields": mismatched})
        return
    summary.verified += 1
    store("match", fields, result.vital_status, None)
    w.verified.append(enrollment_id)


def record_plain(
    conn: Connection,
    rows: Sequence[dict[str, Any]],
) -> None:
    """Verifications decided without a registry answer (legacy IDs it could not resolve)."""
    if rows:
        conn.execute(insert(registry_verification), list(rows))
