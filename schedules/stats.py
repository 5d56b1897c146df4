"""Statistics job: the daily snapshot the dashboards, the API and the public portal read."""

from __future__ import annotations

from typing import Any

from gateway.services.context import Services
from schedules.spec import JobSpec


def take_snapshot(svc: Services) -> dict[str, Any]:
    from gateway.services import stats

    counts = stats.snapshot(svc)
    return {k: v for k, v in counts.items() if k != "day"}  # numbers only: the run has its times


JOBS = [
    JobSpec(
        "stats.snapshot",
        "Daily statistics snapshots per admin unit (commune → district → province → country), "
        "programme and period: approved, paid, unpaid, amounts, open cases by type, channels "
        "and the registry-sync campaign figures; re-running the same day replaces it",
        take_snapshot,
        cron="30 0 * * *",
    )
]
