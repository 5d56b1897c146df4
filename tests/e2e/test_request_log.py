"""Each request leaves one log record with its request id; no personal number in any record."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from gateway.logs import JsonFormatter, MaskingFilter


def test_request_records_carry_an_id_and_no_personal_numbers(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = client.post(
        "/api/v1/intake/rows",
        json={"rows": [{"personal_id": "079301012345"}]},
        headers={"X-Request-ID": "req-42"},
    )
    assert response.status_code == 401 and response.headers["X-Request-ID"] == "req-42"
    request = [r for r in caplog.records if r.name == "ansinh.http"]
    assert len(request) == 1
    assert (request[0].request_id, request[0].status, request[0].method) == ("req-42", 401, "POST")
    formatter, masking = JsonFormatter(), MaskingFilter()
    for record in caplog.records:
        masking.filter(record)
        assert "079301012345" not in formatter.format(record)


def test_generated_request_ids_survive_the_masking_so_logs_match_headers(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The id the response carries is the id in the log line, unmasked, for every request; a
    caller's id is kept only when it is a short token."""
    caplog.set_level(logging.INFO)
    masking = MaskingFilter()
    sent = []
    for _ in range(200):  # a hex UUID would carry a 9-digit run in about a quarter of these
        sent.append(client.get("/health").headers["X-Request-ID"])
    logged = []
    for record in caplog.records:
        if record.name == "ansinh.http":
            masking.filter(record)
            logged.append(record.request_id)
    assert logged == sent and len(set(sent)) == 200
    odd = client.get("/health", headers={"X-Request-ID": "x" * 65}).headers["X-Request-ID"]
    assert odd != "x" * 65 and len(odd) == 29
