"""Outbound HTTP policy: translation, retries only when retryable, breaker, size cap."""

from __future__ import annotations

import random

import pytest
import requests
import responses

from adapters.http import (
    CircuitBreaker,
    CircuitOpen,
    Resilience,
    build_session,
    check_status,
    read_limited,
    translate,
)
from gateway.errors import (
    UpstreamProtocolError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.settings import HttpSettings

URL = "http://registry.test/api"


def _policy(**over) -> tuple[Resilience, list[float]]:
    slept: list[float] = []
    http = HttpSettings(**({"max_retries": 3, "breaker_failures": 10} | over))
    return Resilience(http, "registry", sleep=slept.append, rng=random.Random(1)), slept


def test_library_errors_become_ours() -> None:
    assert isinstance(translate(requests.ReadTimeout(), "x"), UpstreamTimeout)
    assert translate(requests.ConnectionError(), "x").retryable
    assert not translate(ValueError(), "x").retryable
    assert translate(requests.ReadTimeout(), "registry").code == "registry.timeout"


@responses.activate
def test_status_codes_decide_retryability() -> None:
    session = build_session(HttpSettings())
    for status, kind in (
        (503, UpstreamUnavailable),
        (429, UpstreamUnavailable),
        (400, UpstreamRejected),
    ):
        responses.get(URL, status=status)
        with pytest.raises(kind) as exc:
            check_status(session.get(URL, timeout=1), "registry")
        assert exc.value.code == f"registry.http_{status}"
        responses.reset()


def test_retries_with_backoff_only_on_retryable_failures() -> None:
    policy, slept = _policy()
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise requests.ConnectionError("refused")
        return "ok"

    assert policy.call(flaky) == "ok" and len(calls) == 3
    assert len(slept) == 2 and all(0 <= s <= 0.2 * 2**i for i, s in enumerate(slept))

    def rejected() -> str:
        calls.append(1)
        raise UpstreamRejected("no", "không")

    calls.clear()
    with pytest.raises(UpstreamRejected):
        policy.call(rejected)
    assert len(calls) == 1  # never retried

    def always_down() -> str:
        raise requests.ConnectionError("down")

    with pytest.raises(UpstreamUnavailable):
        policy.call(always_down)
    with pytest.raises(UpstreamUnavailable):
        policy.call(always_down, retry=False)  # a submit is never repeated blindly


def test_breaker_opens_then_lets_one_trial_through() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failures=2, reset_seconds=30, clock=lambda: now[0])
    breaker.failure()
    breaker.before("x")
    breaker.failure()
    with pytest.raises(CircuitOpen):
        breaker.before("x")
    now[0] = 31
    assert breaker.state == "half_open"
    breaker.before("x")
    breaker.failure()  # the trial failed: open again
    assert breaker.state == "open"
    now[0] = 62
    breaker.success()
    assert breaker.state == "closed"


@responses.activate
def test_oversized_answers_are_refused() -> None:
    responses.get(URL, body=b"x" * 2048)
    response = build_session(HttpSettings()).get(URL, stream=True, timeout=1)
    with pytest.raises(UpstreamProtocolError) as exc:
        read_limited(response, 1024, "registry")
    assert exc.value.code == "registry.oversized"


def test_sessions_ignore_the_environment_and_keep_the_pinned_ca(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from adapters.http import TlsFiles

    ca = tmp_path / "ca.crt"
    ca.write_text("pinned")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    session = build_session(HttpSettings(), TlsFiles(ca=ca))
    settings = session.merge_environment_settings("https://peer.test/", {}, None, None, None)
    assert settings["verify"] == str(ca) and settings["proxies"] == {}
    explicit = build_session(HttpSettings(), proxy="http://10.0.0.1:3128")
    assert explicit.proxies == {"http": "http://10.0.0.1:3128", "https": "http://10.0.0.1:3128"}
