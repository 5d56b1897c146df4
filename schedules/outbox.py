"""The outbox dispatcher: ticks and withdrawals to the population registry, payment statuses to
the provinces. Failures back off exponentially with jitter; a message that keeps failing (or
fails for good) becomes a dead letter operators see at /ops/dead-letters and can retry."""

from __future__ import annotations

import time
from typing import Any

from gateway.services.context import Services
from schedules.spec import JobSpec

BATCH = 500
BUDGET_SECONDS = 50.0  # stop taking new batches before the next firing is due (every 60 s)


def dispatch(svc: Services) -> dict[str, Any]:
    """Deliver due messages in batches until none is left or the time budget is spent — at the
    scale of a city one firing may have tens of thousands of ticks to publish."""
    from gateway.services import outbox, outbox_handlers

    handlers = outbox_handlers.default_handlers()
    totals: dict[str, Any] = {"sent": 0, "retried": 0, "dead": 0, "batches": 0, "errors": {}}
    started = time.monotonic()
    while True:
        summary = outbox.dispatch(svc, handlers, limit=BATCH)
        totals["batches"] += 1
        for key in ("sent", "retried", "dead"):
            totals[key] += getattr(summary, key)
        for code, n in summary.errors.items():
            totals["errors"][code] = totals["errors"].get(code, 0) + n
        handled = summary.sent + summary.retried + summary.dead
        if handled < BATCH or time.monotonic() - started > BUDGET_SECONDS:
            return totals


JOBS = [
    JobSpec(
        "outbox.dispatch",
        "deliver the outbox (registry ticks and withdrawals, statuses to provinces) with "
        "retry/backoff; dead letters for operators",
        dispatch,
        interval_seconds=60,
        misfire_grace_seconds=120,
    )
]
