"""Registry jobs: pull the change feed (deaths, re-issued IDs, moves) and apply it."""

from __future__ import annotations

from typing import Any

from gateway.services.context import Services
from schedules.spec import JobSpec


def pull_registry_changes(svc: Services) -> dict[str, Any]:
    from gateway.services import registry_events, registry_notify

    summary = registry_events.pull_changes(svc)
    counts: dict[str, Any] = {k: v for k, v in summary.as_dict().items() if k != "cursor"}
    counts["notifications_replayed"] = registry_notify.replay_pending(svc)
    return counts


JOBS = [
    JobSpec(
        "registry.change_feed",
        "Apply the population registry's change feed: deaths suspend entitlements and hold "
        "unsent payments, re-issued IDs replace the current number, moves update residence",
        pull_registry_changes,
        interval_seconds=300,
    )
]
