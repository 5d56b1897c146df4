"""gunicorn configuration of the at-most-once test: a worker process dies (``os._exit``) right
after a callback was stored in the inbox and before it is applied — for the messages the test
chose, a given number of times each (marker files in ``ANSINH_TEST_CRASH_DIR``, shared by the
workers and their replacements)."""

from __future__ import annotations

import os
from typing import Any

# inbox id % 4 → deaths: once (a resend recovers it), always (only the inbox job can)
CRASHES = {0: 1, 1: 99}
control_socket_disable = True  # several gunicorns on one machine must not share a socket


def post_worker_init(worker: Any) -> None:
    from gateway.services import confirm

    original = confirm.apply
    crash_dir = os.environ["ANSINH_TEST_CRASH_DIR"]

    def apply(svc: Any, inbox_id: int, items: Any, *, source: str, actor: Any = None) -> Any:
        for n in range(1, CRASHES.get(inbox_id % 4, 0) + 1):
            try:
                fd = os.open(
                    os.path.join(crash_dir, f"{inbox_id}-{n}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY
                )
            except FileExistsError:
                continue
            os.close(fd)
            os._exit(1)  # stored, not applied, no answer: the bank sees the connection drop
        return original(svc, inbox_id, items, source=source, actor=actor)

    confirm.apply = apply
