"""Quarantined intake rows for review: problems by field, the row's values masked.

Rows are kept encrypted (they hold ID numbers); they are decrypted here only to mask them and
to find the commune the row names, which decides who may see it. A row whose commune cannot be
resolved is visible to national roles only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from gateway.db.tables import admin_unit, import_batch, programme, quarantine_row
from gateway.domain.personal_id import mask
from gateway.errors import NotFound
from gateway.refdata.admin_units import CURRENT, LEGACY
from gateway.security.principal import Actor
from gateway.security.vault import PiiVault
from gateway.services import units
from gateway.services.intake import QUARANTINE_PURPOSE
from gateway.services.workspace import mask_name

NUMBERS = ("personal_id", "legacy_id", "account_number", "phone")
NAMES = ("full_name",)


def masked_value(field: str, value: object) -> str:
    text = "" if value is None else str(value)
    if field in NUMBERS:
        return mask(text) if text else ""
    if field in NAMES:
        return mask_name(text)
    if field == "birth_date" and len(text) >= 4:
        return "**/**/" + text[-4:] if "/" in text else text[:4] + "-**-**"
    return text


@dataclass(frozen=True)
class QuarantineItem:
    id: int
    row_number: int
    status: str
    source: str
    programme: str
    period: str
    problems: list[dict[str, Any]]
    values: dict[str, str]  # masked
    unit_id: int | None


def _unit_of(
    conn: Connection, raw: dict[str, Any], cache: dict[tuple[str, str], int | None]
) -> int | None:
    scheme_raw = str(raw.get("scheme") or "").strip().lower()
    scheme = LEGACY if scheme_raw in ("legacy63", "legacy", "63", "old", "cu") else CURRENT
    code = str(raw.get("commune_code") or "").strip()
    if code.isdigit():
        code = code.zfill(5)
    key = (scheme, code)
    if key not in cache:
        cache[key] = conn.execute(
            select(admin_unit.c.id).where(
                admin_unit.c.scheme == scheme,
                admin_unit.c.level == "commune",
                admin_unit.c.code == code,
            )
        ).scalar()
    return cache[key]


def _visible(conn: Connection, actor: Actor, unit_id: int | None) -> bool:
    if unit_id is None:
        return actor.is_national or actor.is_system
    return units.in_scope(conn, actor, unit_id)


def _query() -> Any:
    return (
        select(
            quarantine_row,
            import_batch.c.source_key,
            import_batch.c.filename,
            import_batch.c.period,
            programme.c.code.label("programme"),
        )
        .join(import_batch, import_batch.c.id == quarantine_row.c.import_id)
        .join(programme, programme.c.id == import_batch.c.programme_id)
    )


def _item(row: Any, raw: dict[str, Any], unit_id: int | None) -> QuarantineItem:
    return QuarantineItem(
        row.id,
        row.row_number,
        row.status,
        row.filename or row.source_key,
        row.programme,
        row.period,
        list(row.problems or []),
        {k: masked_value(k, v) for k, v in raw.items()},
        unit_id,
    )


def list_rows(
    conn: Connection,
    vault: PiiVault,
    actor: Actor,
    *,
    status: str = "open",
    after_id: int = 0,
    limit: int = 50,
) -> tuple[list[QuarantineItem], int | None]:
    """A page of rows the actor may see, keyset-paged by id (scanned in chunks)."""
    out: list[QuarantineItem] = []
    cache: dict[tuple[str, str], int | None] = {}
    last = after_id
    while len(out) <= limit:
        chunk = conn.execute(
            _query()
            .where(quarantine_row.c.status == status, quarantine_row.c.id > last)
            .order_by(quarantine_row.c.id)
            .limit(500)
        ).all()
        if not chunk:
            break
        for row in chunk:
            last = row.id
            raw = json.loads(vault.decrypt(row.raw_enc, QUARANTINE_PURPOSE))
            unit_id = _unit_of(conn, raw, cache)
            if _visible(conn, actor, unit_id):
                out.append(_item(row, raw, unit_id))
                if len(out) > limit:
                    break
    more = len(out) > limit
    out = out[:limit]
    return out, (out[-1].id if more and out else None)


def get_row(conn: Connection, vault: PiiVault, actor: Actor, row_id: int) -> QuarantineItem:
    row = conn.execute(_query().where(quarantine_row.c.id == row_id)).first()
    if row is None:
        raise NotFound(f"no quarantined row {row_id}", f"không có dòng bị giữ lại {row_id}")
    raw = json.loads(vault.decrypt(row.raw_enc, QUARANTINE_PURPOSE))
    unit_id = _unit_of(conn, raw, {})
    if not _visible(conn, actor, unit_id):
        raise NotFound(f"no quarantined row {row_id}", f"không có dòng bị giữ lại {row_id}")
    return _item(row, raw, unit_id)
