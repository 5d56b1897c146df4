"""What a scheduled job is, and how the runner finds every area's jobs.

An area adds ``schedules/<area>.py`` with ``JOBS = [JobSpec(...), ...]``. A job is a thin
wrapper: one service call that returns counts (a dict of numbers) for the run record.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.services.context import Services

JobFn = Callable[[Services], dict[str, Any]]


@dataclass(frozen=True)
class JobSpec:
    name: str  # stable, used in job_run.job and `ansinh jobs run NAME`
    description: str
    fn: JobFn
    cron: str | None = None  # crontab expression ("0 2 * * *"), or
    interval_seconds: int | None = None  # a fixed interval
    misfire_grace_seconds: int = 300  # a firing later than this is recorded as missed, not run
    # The database lock the run holds (the job's name by default). Jobs that must not run at
    # the same time as each other share one (the incremental and full reconciliations).
    lock: str | None = None

    @property
    def lock_name(self) -> str:
        return self.lock or self.name

    @property
    def schedule(self) -> str:
        """How it is scheduled, for people: ``cron 5 * * * *`` or ``every 300 s``."""
        if self.cron:
            return f"cron {self.cron}"
        return f"every {self.interval_seconds} s"


def discover() -> dict[str, JobSpec]:
    """Every JobSpec declared by a module of this package, by name."""
    import schedules as package

    found: dict[str, JobSpec] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"schedules.{info.name}")
        for spec in getattr(module, "JOBS", ()):
            if spec.name in found:
                raise ValueError(f"job {spec.name} declared twice")
            found[spec.name] = spec
    return found
