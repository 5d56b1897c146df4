"""Logs are JSON, and personal numbers never reach them in clear."""

from __future__ import annotations

import io
import json
import logging

from gateway import logs


def test_numbers_are_masked_in_message_args_and_extras() -> None:
    stream = io.StringIO()
    logs.configure("INFO", json_output=True, stream=stream)
    log = logging.getLogger("ansinh.test")
    log.info(
        "verify %s failed",
        "079301012345",
        extra={"account": "9704361234567", "count": 3, "ids": ["001050000001"]},
    )
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    text = json.dumps(line)
    assert "079301012345" not in text and "9704361234567" not in text
    assert line["msg"] == "verify 079*******45 failed"
    assert line["account"] == "970********67" and line["count"] == 3
    assert line["ids"] == ["001*******01"]


def test_zeep_transport_cannot_log_envelopes() -> None:
    logs.configure("DEBUG", stream=io.StringIO())
    assert logging.getLogger("zeep.transports").getEffectiveLevel() >= logging.WARNING


def test_short_numbers_and_dates_stay_readable() -> None:
    assert logs.mask_numbers("batch 2026-07 of 500000 VND, 20261122") == (
        "batch 2026-07 of 500000 VND, 20261122"
    )
