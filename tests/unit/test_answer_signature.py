"""WS-Security on the registry's SOAP answers (``soap_headers.AnswerSignature``): what was
signed matters as much as whether the signature verifies."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import pytest
from lxml import etree

from adapters.registry import errors
from adapters.registry.soap_headers import DS, WSU, AnswerSignature, TimestampedSignature
from gateway.errors import GatewayError

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from certs import pki as dev_pki

    directory = tmp_path_factory.mktemp("answer-pki")
    dev_pki.init(directory)
    return directory


def _signed_answer(pki: Path) -> etree._Element:
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP})
    body = etree.SubElement(env, f"{{{SOAP}}}Body")
    etree.SubElement(body, "lookupPersonResponse").text = "found"
    signer = TimestampedSignature(
        (pki / "server.key").read_bytes(), (pki / "server.crt").read_bytes()
    )
    signed, _ = signer.apply(env, {})
    # what the gateway receives: the bytes, parsed again
    return etree.fromstring(etree.tostring(signed))


def _refused(check: AnswerSignature, envelope: etree._Element, why: str, **kw: object) -> None:
    with pytest.raises(GatewayError) as caught:
        check.check(envelope, **kw)  # type: ignore[arg-type]
    assert caught.value.code == errors.BAD_SIGNATURE
    assert why in caught.value.message and caught.value.message_vi


def test_an_answer_signed_by_the_registry_passes(pki: Path) -> None:
    AnswerSignature((pki / "server.crt").read_bytes()).check(_signed_answer(pki))


def test_a_signature_by_another_certificate_is_refused(pki: Path) -> None:
    other = AnswerSignature((pki / "client.crt").read_bytes())
    _refused(other, _signed_answer(pki), "does not verify")


def test_a_changed_body_is_refused(pki: Path) -> None:
    envelope = _signed_answer(pki)
    envelope.find(f"{{{SOAP}}}Body")[0].text = "not_found"
    _refused(AnswerSignature((pki / "server.crt").read_bytes()), envelope, "does not verify")


def test_a_signature_that_leaves_the_body_out_is_refused(pki: Path) -> None:
    envelope = _signed_answer(pki)
    body = envelope.find(f"{{{SOAP}}}Body")
    signed_info = envelope.find(f".//{{{DS}}}SignedInfo")
    for ref in signed_info.findall(f"{{{DS}}}Reference"):
        if ref.get("URI") == "#" + body.get(f"{{{WSU}}}Id"):
            signed_info.remove(ref)
    _refused(
        AnswerSignature((pki / "server.crt").read_bytes()), envelope, "does not cover the Body"
    )


def test_a_wrapped_body_is_refused(pki: Path) -> None:
    """The signed Body moved into the header, a forged one in its place with the same id."""
    envelope = _signed_answer(pki)
    body = envelope.find(f"{{{SOAP}}}Body")
    header = envelope.find(f"{{{SOAP}}}Header")
    header.append(copy.deepcopy(body))
    body[0].text = "forged"
    _refused(AnswerSignature((pki / "server.crt").read_bytes()), envelope, "more than once")


def test_an_expired_or_unsigned_answer_is_refused(pki: Path) -> None:
    check = AnswerSignature((pki / "server.crt").read_bytes())
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    _refused(check, _signed_answer(pki), "expired", now=later)
    bare = etree.Element(f"{{{SOAP}}}Envelope")
    etree.SubElement(bare, f"{{{SOAP}}}Body")
    _refused(check, bare, "not signed")
