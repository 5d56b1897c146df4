"""The X-Road answer check of the SOAP registry adapter: the echoed id and the provider
security server's requestHash (X-Road message protocol 4.0) must belong to the request sent."""

from __future__ import annotations

import pytest
from lxml import etree

from adapters.registry import errors
from adapters.registry.soap import check_xroad_answer
from adapters.registry.soap_headers import XROAD, request_hash
from gateway.errors import GatewayError

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
REQUEST = b'<?xml version="1.0"?><soap:Envelope xmlns:soap="x"><soap:Body/></soap:Envelope>'
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"


def _answer(
    xroad_id: str | None, hashed: str | None, algorithm: str | None = None
) -> etree._Element:
    env = etree.Element(f"{{{SOAP}}}Envelope")
    header = etree.SubElement(env, f"{{{SOAP}}}Header")
    if xroad_id is not None:
        etree.SubElement(header, f"{{{XROAD}}}id").text = xroad_id
    if hashed is not None:
        stamp = etree.SubElement(header, f"{{{XROAD}}}requestHash")
        stamp.text = hashed
        if algorithm:
            stamp.set("algorithmId", algorithm)
    etree.SubElement(env, f"{{{SOAP}}}Body")
    return env


def test_the_answer_to_our_request_passes_with_either_algorithm() -> None:
    check_xroad_answer(_answer("id-1", request_hash(REQUEST)), REQUEST, "id-1")
    check_xroad_answer(_answer("id-1", request_hash(REQUEST, SHA256), SHA256), REQUEST, "id-1")


def test_a_registry_reached_without_a_security_server_is_not_checked() -> None:
    bare = etree.Element(f"{{{SOAP}}}Envelope")
    etree.SubElement(bare, f"{{{SOAP}}}Body")
    check_xroad_answer(bare, REQUEST, "id-1")
    check_xroad_answer(_answer(None, None), REQUEST, "id-1")  # a header without X-Road fields


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (_answer("id-2", None), "another request's"),
        (_answer("id-1", request_hash(REQUEST + b" ")), "differs"),
        (_answer("id-1", request_hash(REQUEST), SHA256), "differs"),  # hashed with another
        (_answer("id-1", "abc", "urn:md5"), "unknown requestHash algorithm"),
    ],
)
def test_an_answer_for_another_message_is_refused(answer: etree._Element, why: str) -> None:
    with pytest.raises(GatewayError) as caught:
        check_xroad_answer(answer, REQUEST, "id-1")
    assert caught.value.code == errors.REQUEST_HASH
    assert caught.value.message_vi  # a person may read it: Vietnamese too
