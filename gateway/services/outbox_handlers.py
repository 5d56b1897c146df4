"""What each outbox topic does when it is delivered."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from adapters.registry.port import TickRecord
from gateway.db.tables import admin_unit
from gateway.services import people
from gateway.services.context import Services
from gateway.services.outbox import Handler
from gateway.services.ticks import TICK_TOPIC, UNTICK_TOPIC


def _tick_record(svc: Services, payload: dict[str, Any]) -> TickRecord:
    with svc.db.read() as conn:
        pid = people.pid_of(conn, svc.vault, int(payload["person_id"]))
        unit = conn.execute(
            select(admin_unit.c.scheme, admin_unit.c.code).where(
                admin_unit.c.id == payload["unit_id"]
            )
        ).first()
    return TickRecord(
        pid=pid or "",
        exclusion_group=payload["exclusion_group"],
        period=payload["period"],
        locality=f"{unit.scheme}:{unit.code}" if unit else "",
        programme=payload["programme"],
        payment_ref=payload["payment_ref"],
    )


def publish_tick(svc: Services, payload: dict[str, Any]) -> None:
    svc.registry.publish_tick(_tick_record(svc, payload))


def withdraw_tick(svc: Services, payload: dict[str, Any]) -> None:
    svc.registry.withdraw_tick(_tick_record(svc, payload), payload.get("reason", ""))


def push_province_status(svc: Services, payload: dict[str, Any]) -> None:
    from gateway.services import status

    status.deliver(svc, payload)


def default_handlers() -> dict[str, Handler]:
    return {
        TICK_TOPIC: publish_tick,
        UNTICK_TOPIC: withdraw_tick,
        "province.status": push_province_status,
    }
