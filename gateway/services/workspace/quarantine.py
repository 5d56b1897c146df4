"""Quarantined intake rows as the review pages show them: the intake area's quarantine service
(scope by the row's admin unit, audited reads) with every value masked for display."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from gateway.domain.personal_id import mask
from gateway.security.principal import Actor
from gateway.services import quarantine
from gateway.services.context import Services
from gateway.services.workspace import mask_name

NAMES = ("full_name",)


def masked_value(field: str, value: object) -> str:
    """Stricter than the service's masking: on a screen, names and birth dates are masked too."""
    text = "" if value is None else str(value)
    if field in quarantine.MASKED_FIELDS:
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


def list_rows(
    conn: Connection, actor: Actor, *, status: str = "open", after_id: int = 0, limit: int = 50
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of rows in the actor's scope, keyset-paged by id, and the next cursor."""
    rows = quarantine.list_rows(conn, actor, status=status, after_id=after_id, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1]["id"] if more and rows else None)


def get_row(svc: Services, actor: Actor, row_id: int) -> QuarantineItem:
    row = quarantine.get_row(svc, actor, row_id)
    return QuarantineItem(
        row["id"],
        row["row_number"],
        row["status"],
        row["source"],
        row["programme"],
        row["period"],
        row["problems"],
        {k: masked_value(k, v) for k, v in row["fields"].items()},
    )
