"""The scheduler for ``make run``: today's statistics snapshot first (so the dashboard reads
snapshots from the start), then ``ansinh scheduler`` in the background with every job —
reconciliation, the outbox dispatcher, payment status queries, the change feed, statistics."""

from __future__ import annotations

import subprocess
import sys

from gateway.devstack import Stack

ORDER = 92  # after the demo data, before the gateway starts serving


def start(stack: Stack) -> None:
    stack.say("statistics snapshot …")
    subprocess.run(  # our own CLI, fixed arguments
        [sys.executable, "-m", "gateway.cli", "jobs", "run", "stats.snapshot"],
        env=stack.environ(),
        stdout=subprocess.DEVNULL,
        check=False,  # a failed snapshot is recorded as a failed job run; the dashboard says so
        timeout=600,
    )
    stack.spawn("scheduler", ["scheduler"])
    stack.notes.append(
        f"scheduler running (ansinh jobs list; log {stack.data_dir / 'scheduler.log'})"
    )
