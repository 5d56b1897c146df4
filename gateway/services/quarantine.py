"""Quarantine: every rejected intake row is kept — where it came from (file, row), each problem
(field, rule, masked value, English and Vietnamese) and the row itself, encrypted — to be read,
corrected and replayed, or discarded with a reason. Scope-checked and audited."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select, update

from gateway.db.dialect import insert_ignore
from gateway.db.tables import admin_unit, import_batch, programme, quarantine_row
from gateway.domain.personal_id import mask
from gateway.domain.states import PROPOSERS
from gateway.errors import FieldProblem, Forbidden, InvalidState, NotFound, problem
from gateway.security.principal import Actor
from gateway.security.vault import PiiVault
from gateway.services import audit, units
from gateway.services.context import Services
from mappings.canonical import NAMES

PURPOSE = b"quarantine"
MASKED_FIELDS = frozenset({"personal_id", "legacy_id", "account_number", "phone"})


def masked_value(field_name: str, value: object) -> str:
    text = "" if value is None else str(value)
    if field_name in MASKED_FIELDS:
        return mask(text)
    return text[:60]


def problems_json(problems: Iterable[FieldProblem], row: dict[str, object]) -> list[dict[str, str]]:
    return [{**p.as_dict(), "value": masked_value(p.field, row.get(p.field))} for p in problems]


def keep(
    conn: Connection,
    vault: PiiVault,
    *,
    import_id: int,
    row_number: int,
    location: str | None,
    row: dict[str, object],
    problems: list[FieldProblem],
    unit_id: int | None,
    now: dt.datetime,
) -> None:
    """Store (or, for a replayed row rejected again, refresh) one quarantined row."""
    clean = {k: v for k, v in row.items() if not k.startswith("@")}
    values = {
        "raw_enc": vault.encrypt(json.dumps(clean, ensure_ascii=False, default=str), PURPOSE),
        "problems": problems_json(problems, clean),
        "status": "open",
        "location": (location or f"row {row_number}")[:120],
        "source_ref": str(clean.get("source_ref") or "")[:80] or None,
        "unit_id": unit_id,
    }
    inserted = conn.execute(
        insert_ignore(conn, quarantine_row).values(
            import_id=import_id, row_number=row_number, created_at=now, **values
        )
    ).rowcount
    if not inserted:
        conn.execute(
            update(quarantine_row)
            .where(
                quarantine_row.c.import_id == import_id,
                quarantine_row.c.row_number == row_number,
            )
            .values(**values)
        )


def _query() -> Any:
    return (
        select(
            quarantine_row,
            import_batch.c.filename,
            import_batch.c.source_key,
            import_batch.c.source_kind,
            import_batch.c.mapping,
            import_batch.c.period,
            programme.c.code.label("programme"),
            admin_unit.c.scheme.label("unit_scheme"),
            admin_unit.c.code.label("unit_code"),
        )
        .join(import_batch, import_batch.c.id == quarantine_row.c.import_id)
        .join(programme, programme.c.id == import_batch.c.programme_id)
        .outerjoin(admin_unit, admin_unit.c.id == quarantine_row.c.unit_id)
    )


def _summary(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "import_id": r.import_id,
        "source": r.filename or r.source_key,
        "source_kind": r.source_kind,
        "mapping": r.mapping,
        "programme": r.programme,
        "period": r.period,
        "row_number": r.row_number,
        "location": r.location,
        "source_ref": r.source_ref,
        "unit": f"{r.unit_scheme}:{r.unit_code}" if r.unit_code else None,
        "status": r.status,
        "problems": list(r.problems),
        "created_at": r.created_at,
        "resolved_at": r.resolved_at,
        "resolved_by": r.resolved_by,
        "resolution": r.resolution,
        "enrollment_id": r.enrollment_id,
    }


def list_rows(
    conn: Connection,
    actor: Actor,
    *,
    import_id: int | None = None,
    status: str | None = "open",
    after_id: int = 0,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Quarantined rows in the actor's scope, keyset-paged by id; values masked."""
    query = _query().where(
        units.scope_filter(actor, quarantine_row.c.unit_id), quarantine_row.c.id > after_id
    )
    if import_id is not None:
        query = query.where(quarantine_row.c.import_id == import_id)
    if status:
        query = query.where(quarantine_row.c.status == status)
    rows = conn.execute(query.order_by(quarantine_row.c.id).limit(min(limit, 1000))).all()
    return [_summary(r) for r in rows]


def _load(conn: Connection, actor: Actor, row_id: int) -> Any:
    row = conn.execute(_query().where(quarantine_row.c.id == row_id)).first()
    visible = row is not None and (
        actor.is_system
        or actor.is_national
        or (row.unit_id is not None and units.in_scope(conn, actor, row.unit_id))
    )
    if not visible:  # outside the scope reads as absent: no hint that the row exists
        raise NotFound(f"no quarantined row {row_id}", f"không có dòng bị giữ lại {row_id}")
    return row


def get_row(svc: Services, actor: Actor, row_id: int) -> dict[str, Any]:
    """One row with its problems and the decrypted fields an officer corrects (audited read)."""
    with svc.db.begin() as conn:
        row = _load(conn, actor, row_id)
        fields = json.loads(svc.vault.decrypt(row.raw_enc, PURPOSE))
        audit.record(
            conn,
            actor,
            "quarantine.read",
            "quarantine_row",
            row_id,
            purpose="correct a rejected intake row",
            detail={"import_id": row.import_id, "row": row.row_number},
        )
    return {**_summary(row), "fields": {k: fields.get(k) for k in (*NAMES, *fields) if k in fields}}


@dataclass
class ReplayResult:
    accepted: bool
    enrollment_id: int | None
    problems: list[FieldProblem] = field(default_factory=list)


def _may_correct(actor: Actor) -> None:
    if not actor.is_system and actor.role not in PROPOSERS:
        raise Forbidden(
            "only commune, district or province officers correct intake rows",
            "chỉ cán bộ cấp xã, huyện, tỉnh được sửa dòng dữ liệu",
            code="role.cannot_correct",
        )


def replay(svc: Services, actor: Actor, row_id: int, corrected: dict[str, object]) -> ReplayResult:
    """Apply corrections to a quarantined row and run it through intake again, atomically."""
    from gateway.services.intake_replay import replay_row

    _may_correct(actor)
    unknown = sorted(set(corrected) - set(NAMES))
    if unknown:
        raise problem(
            unknown[0],
            "field.unknown",
            f"{unknown[0]!r} is not a canonical field",
            f"{unknown[0]!r} không phải trường chuẩn",
        )
    with svc.db.begin() as conn:
        row = _load(conn, actor, row_id)
        if row.status != "open":
            raise InvalidState(
                f"quarantined row {row_id} is {row.status}",
                f"dòng {row_id} đã ở trạng thái {row.status}",
                code="quarantine.closed",
            )
        fields = json.loads(svc.vault.decrypt(row.raw_enc, PURPOSE))
        fields.update({k: ("" if v is None else v) for k, v in corrected.items()})
        outcome = replay_row(svc, conn, actor, row, fields)
        audit.record(
            conn,
            actor,
            "quarantine.replay",
            "quarantine_row",
            row_id,
            purpose="correct a rejected intake row",
            detail={
                "fields": sorted(corrected),
                "accepted": outcome.accepted,
                "enrollment_id": outcome.enrollment_id,
            },
        )
    return outcome


def close(
    conn: Connection,
    row_id: int,
    status: str,
    actor: Actor,
    now: dt.datetime,
    *,
    resolution: str,
    enrollment_id: int | None = None,
) -> None:
    conn.execute(
        update(quarantine_row)
        .where(quarantine_row.c.id == row_id)
        .values(
            status=status,
            resolved_at=now,
            resolved_by=actor.label(),
            resolution=resolution,
            enrollment_id=enrollment_id,
        )
    )


def discard(svc: Services, actor: Actor, row_id: int, reason: str) -> None:
    """Close a row that should not be imported (not a beneficiary, a test row…), with a reason."""
    _may_correct(actor)
    if not reason or len(reason.strip()) < 3:
        raise problem("reason", "reason.required", "a reason is required", "phải ghi lý do")
    with svc.db.begin() as conn:
        row = _load(conn, actor, row_id)
        if row.status != "open":
            raise InvalidState(
                f"quarantined row {row_id} is {row.status}",
                f"dòng {row_id} đã ở trạng thái {row.status}",
                code="quarantine.closed",
            )
        close(conn, row_id, "discarded", actor, svc.clock(), resolution=reason.strip())
        audit.record(
            conn,
            actor,
            "quarantine.discard",
            "quarantine_row",
            row_id,
            purpose="close a rejected intake row",
            detail={"reason": reason.strip()[:200]},
        )
