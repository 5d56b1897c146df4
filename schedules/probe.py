"""A job for testing the scheduler itself — never scheduled in normal operation.

It is declared only when ``ANSINH_SCHEDULER_PROBE`` is set (to the seconds each run sleeps,
e.g. ``0`` or ``1.5``), and then runs every second. The two-scheduler test starts two
``ansinh scheduler --only scheduler.probe`` processes with it; an operator can do the same on a
staging database to watch locks and run records without touching real work. The value ``fail``
makes every run raise instead (a failing job must not stop the scheduler).
"""

from __future__ import annotations

import os
import time
from typing import Any

from gateway.services.context import Services
from schedules.spec import JobSpec

PROBE_ENV = "ANSINH_SCHEDULER_PROBE"


class ProbeFailure(RuntimeError):
    pass


def probe(svc: Services) -> dict[str, Any]:
    value = os.environ.get(PROBE_ENV, "0").strip()
    if value == "fail":
        raise ProbeFailure("probe asked to fail")
    seconds = float(value or 0)
    time.sleep(seconds)
    return {"slept_ms": int(seconds * 1000), "pid": os.getpid()}


JOBS = (
    [
        JobSpec(
            "scheduler.probe",
            f"test probe (only with {PROBE_ENV}): sleeps, returns its pid",
            probe,
            interval_seconds=1,
            misfire_grace_seconds=5,
        )
    ]
    if os.environ.get(PROBE_ENV)
    else []
)
