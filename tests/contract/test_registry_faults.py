"""The fault matrix: every failure switch of the simulator, through the SOAP and the REST
adapter, ends in its own error code — never in a crash, never in a followed entity."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from adapters.http import Resilience, TlsFiles
from adapters.registry import errors
from adapters.registry.port import VerifyRequest
from adapters.registry.simulator import mutual_tls_context
from adapters.registry.soap_headers import AnswerSignature, TimestampedSignature, XRoadIdentity
from gateway.errors import GatewayError
from gateway.services.verify import ask
from tests.registry_support import (
    AN,
    FAST_HTTP,
    Seeded,
    make_simulator,
    rest_registry,
    running,
    soap_registry,
)

SHORT = replace(FAST_HTTP, read_timeout=0.4)


@pytest.fixture(params=["soap", "rest"])
def seeded(
    request: pytest.FixtureRequest, tmp_path: Path, registry_certs: Path
) -> Iterator[Seeded]:
    app = make_simulator(tmp_path, registry_certs)
    with running(app) as server:
        registry = (
            soap_registry(server, http=SHORT)
            if request.param == "soap"
            else rest_registry(server, registry_certs, http=SHORT)
        )
        registry.lookup(AN.pid)  # WSDL loaded / token fetched before any fault is switched on
        yield Seeded(request.param, registry, app, server)


def _code(seeded: Seeded) -> str:
    with pytest.raises(GatewayError) as caught:
        seeded.registry.lookup(AN.pid)
    return caught.value.code


MATRIX = [
    ({"error_rate": 1.0}, "registry.http_503"),
    ({"fault_rate": 1.0}, errors.FAULT),
    ({"timeout_rate": 1.0, "timeout_seconds": 1.0}, errors.TIMEOUT),
    ({"malformed_rate": 1.0}, errors.MALFORMED_RESPONSE),
    ({"hostile": "oversized"}, errors.OVERSIZED),
]


@pytest.mark.parametrize(("switches", "code"), MATRIX, ids=[m[1] for m in MATRIX])
def test_each_switch_has_its_own_code(
    seeded: Seeded, switches: dict[str, object], code: str
) -> None:
    seeded.switches(**switches)
    assert _code(seeded) == code


@pytest.mark.parametrize("kind", ["xxe", "billion_laughs", "dtd"])
def test_hostile_xml_is_refused_not_followed(seeded: Seeded, kind: str) -> None:
    seeded.switches(hostile=kind)
    started = time.perf_counter()
    code = _code(seeded)
    assert time.perf_counter() - started < 2  # no entity expansion, no fetch
    expected = errors.HOSTILE_XML if seeded.kind == "soap" else errors.MALFORMED_RESPONSE
    assert code == expected


@pytest.fixture
def rest(tmp_path: Path, registry_certs: Path) -> Iterator[Seeded]:
    app = make_simulator(tmp_path, registry_certs)
    with running(app) as server:
        registry = rest_registry(server, registry_certs, http=SHORT)
        registry.lookup(AN.pid)
        yield Seeded("rest", registry, app, server)


def test_rest_answers_signed_with_an_unknown_key_are_refused(rest: Seeded) -> None:
    rest.switches(bad_signature=True)
    assert _code(rest) == errors.BAD_SIGNATURE


def test_rest_requests_with_a_bad_signature_are_refused_by_the_registry(
    rest: Seeded, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    rest.registry.key = Ed25519PrivateKey.generate()  # not the key the registry knows for us
    assert _code(rest) == "registry.http_401"


def test_expired_token_is_renewed_once_then_reported(rest: Seeded) -> None:
    fetched = rest.registry.tokens.fetched
    rest.script("expired_token")  # one refusal: renewed, retried, answered
    assert rest.registry.lookup(AN.pid) == AN
    assert rest.registry.tokens.fetched == fetched + 1
    rest.switches(expired_tokens=True)  # every token refused
    assert _code(rest) == errors.TOKEN_EXPIRED


def test_a_token_near_expiry_is_renewed_before_use(rest: Seeded) -> None:
    rest.switches(token_ttl=5)  # inside the 30 s refresh margin: renewed on each use
    rest.registry.tokens.invalidate(rest.registry.tokens.token())
    before = rest.registry.tokens.fetched
    rest.registry.lookup(AN.pid)
    rest.registry.lookup(AN.pid)
    assert rest.registry.tokens.fetched == before + 2


def test_wrong_client_secret_is_not_retried(rest: Seeded, registry_certs: Path) -> None:
    assert rest.sim is not None
    wrong = rest_registry(rest.sim, registry_certs, http=SHORT, client_secret="nope")
    with pytest.raises(GatewayError) as caught:
        wrong.lookup(AN.pid)
    assert caught.value.code == "registry.http_401"


def test_latency_is_tolerated_within_the_timeout(seeded: Seeded) -> None:
    seeded.switches(latency_ms=150)
    started = time.perf_counter()
    assert seeded.registry.lookup(AN.pid) == AN
    assert time.perf_counter() - started >= 0.15


def test_retryable_failures_are_retried_then_succeed(tmp_path: Path, registry_certs: Path) -> None:
    app = make_simulator(tmp_path, registry_certs)
    with running(app) as server:
        http = replace(SHORT, max_retries=2)
        sleeps: list[float] = []
        registry = soap_registry(
            server, http=http, resilience=Resilience(http, "registry", sleep=sleeps.append)
        )
        registry.check()  # the WSDL is loaded before the script starts
        app.faults.update({"timeout_seconds": 1.0})
        app.faults.script(["error", "timeout", "ok"])
        assert registry.lookup(AN.pid) == AN
        assert len(sleeps) == 2  # two backoffs, then the answer
        app.faults.script(["fault", "ok"])
        with pytest.raises(GatewayError) as caught:
            registry.lookup(AN.pid)  # a fault is an answer: never retried
        assert caught.value.code == errors.FAULT


def test_circuit_opens_after_repeated_failures(tmp_path: Path, registry_certs: Path) -> None:
    app = make_simulator(tmp_path, registry_certs)
    with running(app) as server:
        http = replace(FAST_HTTP, breaker_failures=2)
        registry = soap_registry(server, http=http)
        registry.lookup(AN.pid)
        app.faults.update({"error_rate": 1.0})
        codes = []
        for _ in range(3):
            with pytest.raises(GatewayError) as caught:
                registry.lookup(AN.pid)
            codes.append(caught.value.code)
        assert codes == ["registry.http_503", "registry.http_503", "registry.circuit_open"]


def test_failures_inside_a_batch_stay_with_their_persons(seeded: Seeded) -> None:
    results = seeded.registry.verify(
        [VerifyRequest("ok", AN.pid, AN.full_name), VerifyRequest("bad", "0790", "X")]
    )
    assert [(r.ref, r.found, r.error_code) for r in results] == [
        ("ok", True, None),
        ("bad", False, errors.MALFORMED_ID),
    ]


# -- SOAP: X-Road headers, WS-Security, mutual TLS -------------------------------------------------


def test_xroad_headers_are_sent_when_configured(sim) -> None:
    xroad = XRoadIdentity(
        "VN/GOV/000123/ansinh", "VN/GOV/000001/C06", "VN001234", "ND20-2026-07", "v1"
    )
    soap_registry(sim, xroad=xroad).lookup(AN.pid)
    seen = sim.app.requests[-1]["xroad"]
    assert seen["client"] == "VN/GOV/000123/ansinh"
    assert seen["service"] == "VN/GOV/000001/C06/lookupPerson/v1"
    assert (seen["userId"], seen["issue"], seen["protocolVersion"]) == (
        "VN001234",
        "ND20-2026-07",
        "4.0",
    )
    assert len(seen["id"]) == 36  # a fresh UUID per message


def test_xroad_answers_must_belong_to_the_request(sim) -> None:
    xroad = XRoadIdentity("VN/GOV/000123/ansinh", "VN/GOV/000001/C06")
    registry = soap_registry(sim, xroad=xroad)
    assert registry.lookup(AN.pid) == AN  # the simulator's requestHash matched our message
    sim.app.faults.script(["wrong_request_hash"])
    with pytest.raises(GatewayError) as caught:
        registry.lookup(AN.pid)
    assert caught.value.code == errors.REQUEST_HASH and not caught.value.retryable
    assert "requestHash" in caught.value.message
    sim.app.faults.script(["wrong_request_hash"])  # bulk verification records it per person
    [result] = ask(registry, [VerifyRequest("p1", AN.pid, AN.full_name)])
    assert (result.found, result.error_code) == (False, errors.REQUEST_HASH)
    assert registry.lookup(AN.pid) == AN  # the next answer is checked afresh


def test_ws_security_signature_is_required_and_verified(sim, registry_certs: Path) -> None:
    sim.app.faults.update({"require_wsse": True})
    with pytest.raises(GatewayError) as caught:
        soap_registry(sim).lookup(AN.pid)
    assert caught.value.code == errors.FAULT
    assert caught.value.detail["faultcode"] == "wsse:FailedCheck"
    signed = soap_registry(sim, wsse=TimestampedSignature.from_certs(registry_certs))
    assert signed.lookup(AN.pid) == AN
    assert sim.app.requests[-1]["wsse_valid"] is True


def test_signed_answers_are_checked_against_the_registrys_certificate(
    sim, registry_certs: Path
) -> None:
    answers = AnswerSignature((registry_certs / "server.crt").read_bytes())
    signing = TimestampedSignature.from_certs(registry_certs)
    registry = soap_registry(sim, wsse=signing, answer_signature=answers)
    assert registry.lookup(AN.pid) == AN  # signed request, signed answer, verified
    sim.app.faults.script(["bad_signature"])  # the answer is altered after it was signed
    with pytest.raises(GatewayError) as caught:
        registry.lookup(AN.pid)
    assert caught.value.code == errors.BAD_SIGNATURE
    assert "does not verify" in caught.value.message
    # a registry that does not sign (here: our request was not signed, so neither is the answer)
    unsigned = soap_registry(sim, answer_signature=answers)
    with pytest.raises(GatewayError) as caught:
        unsigned.lookup(AN.pid)
    assert caught.value.code == errors.BAD_SIGNATURE and "not signed" in caught.value.message
    # signed, but by a certificate that is not the registry's
    stranger = AnswerSignature((registry_certs / "client.crt").read_bytes())
    with pytest.raises(GatewayError) as caught:
        soap_registry(sim, wsse=signing, answer_signature=stranger).lookup(AN.pid)
    assert caught.value.code == errors.BAD_SIGNATURE


def test_mutual_tls(tmp_path: Path, registry_certs: Path) -> None:
    app = make_simulator(tmp_path, registry_certs)
    with running(app, ssl_context=mutual_tls_context(registry_certs)) as server:
        with_cert = TlsFiles.from_certs_dir(registry_certs, mutual=True)
        assert soap_registry(server, tls=with_cert).lookup(AN.pid) == AN
        without = TlsFiles.from_certs_dir(registry_certs, mutual=False)
        with pytest.raises(GatewayError) as caught:
            soap_registry(server, tls=without).lookup(AN.pid)
        assert caught.value.code in (errors.UNAVAILABLE, errors.WSDL_REFUSED)


def test_zeep_and_the_adapter_log_no_envelopes(sim, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    registry = soap_registry(sim)
    registry.verify([VerifyRequest("1", AN.pid, AN.full_name)])
    registry.lookup(AN.pid)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records  # DEBUG logging was on (werkzeug, urllib3 …)
    assert AN.pid not in logged and AN.full_name not in logged
