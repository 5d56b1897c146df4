"""Reconciliation jobs: an incremental run every hour (only what changed since the last run's
watermark) and a full run every night. Both hold the one lock ``reconcile``, so they never run
at the same time: a firing while the other is running is recorded as skipped (overlap)."""

from __future__ import annotations

from typing import Any

from gateway.services.context import Services
from schedules.spec import JobSpec


def _run(svc: Services, kind: str) -> dict[str, Any]:
    from gateway.services import reconcile  # imported when run: the engine is large

    summary = reconcile.run(svc, kind=kind)
    return {
        "run_id": summary.run_id,
        "opened": summary.opened,
        "still_open": summary.still_open,
        "closed": summary.closed,
        "by_type": dict(summary.by_type),
    }


def incremental(svc: Services) -> dict[str, Any]:
    return _run(svc, "incremental")


def full(svc: Services) -> dict[str, Any]:
    return _run(svc, "full")


JOBS = [
    JobSpec(
        "reconcile.incremental",
        "reconcile what changed since the last run: open new mismatch cases, close cases "
        "whose cause disappeared",
        incremental,
        cron="5 * * * *",  # hourly, at five past (Vietnam time)
        misfire_grace_seconds=900,
        lock="reconcile",
    ),
    JobSpec(
        "reconcile.full",
        "reconcile everything: approved entitlements × instructions × confirmations × "
        "registry verification × ticks",
        full,
        cron="30 1 * * *",  # daily at 01:30 Vietnam time
        misfire_grace_seconds=3 * 3600,
        lock="reconcile",
    ),
]
