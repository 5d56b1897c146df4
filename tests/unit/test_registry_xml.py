"""Hardened XML reading and writing along mapping paths."""

from __future__ import annotations

import time

import pytest
from lxml import etree

from adapters.registry import errors, mapping, xmlcodec, xmlsafe
from adapters.registry.simulator.faults import hostile_xml
from gateway.domain.dates import BirthDate
from gateway.errors import GatewayError
from tests.registry_support import AN


@pytest.mark.parametrize("kind", ["xxe", "billion_laughs", "dtd"])
def test_doctypes_are_refused_before_anything_is_expanded(kind: str) -> None:
    started = time.perf_counter()
    with pytest.raises(GatewayError) as caught:
        xmlsafe.parse(hostile_xml(kind))
    assert caught.value.code == errors.HOSTILE_XML
    assert time.perf_counter() - started < 0.5


def test_a_doctype_hidden_after_comments_is_still_found() -> None:
    data = b'<?xml version="1.0"?><!-- x --><!DOCTYPE r [<!ENTITY a "b">]><r>&a;</r>'
    with pytest.raises(GatewayError) as caught:
        xmlsafe.parse(data)
    assert caught.value.code == errors.HOSTILE_XML


def test_broken_xml_is_malformed_and_a_doctype_word_in_text_is_fine() -> None:
    with pytest.raises(GatewayError) as caught:
        xmlsafe.parse(b"<a><b></a>")
    assert caught.value.code == errors.MALFORMED_RESPONSE
    assert xmlsafe.parse(b"<a>&lt;!DOCTYPE is just text</a>").text == "<!DOCTYPE is just text"


@pytest.mark.parametrize(
    ("envelope", "expected"),
    [
        (
            f'<s:Envelope xmlns:s="{xmlsafe.SOAP11}"><s:Body><s:Fault><faultcode>s:Server'
            "</faultcode><faultstring>down</faultstring></s:Fault></s:Body></s:Envelope>",
            ("s:Server", "down"),
        ),
        (
            f'<s:Envelope xmlns:s="{xmlsafe.SOAP12}"><s:Body><s:Fault><s:Code><s:Value>s:Receiver'
            "</s:Value></s:Code><s:Reason><s:Text>down</s:Text></s:Reason></s:Fault></s:Body>"
            "</s:Envelope>",
            ("s:Receiver", "down"),
        ),
    ],
)
def test_soap_faults_of_both_versions(envelope: str, expected: tuple[str, str]) -> None:
    assert xmlsafe.fault_of(xmlsafe.soap_body(xmlsafe.parse(envelope.encode()))) == expected


def test_records_round_trip_through_a_mapping_with_attributes_and_code_tables() -> None:
    from pathlib import Path

    m = mapping.load(str(Path(__file__).parents[1] / "fixtures" / "registry" / "lgsp_dancu.toml"))
    parent = etree.Element("wrapper")
    path = m.operations["lookup"].response.fields["record"]
    xmlcodec.write_record(m, parent, path, AN)
    record = parent[0]
    assert record.findtext("NgaySinh") == "04/03/1950"
    assert record.findtext("GioiTinh") == "1"
    assert record.find("NoiThuongTru").get("HeMa") == "2025-07"
    assert [e.tag for e in record] == [
        "SoDinhDanh",
        "HoVaTen",
        "NgaySinh",
        "GioiTinh",
        "TinhTrang",
        "NoiThuongTru",
        "SoCMND",
    ]
    assert xmlcodec.read_record(m, record) == AN


@pytest.mark.parametrize(
    ("text", "fmt", "expected"),
    [
        ("1950", "iso", BirthDate(1950)),
        ("1950-03-04", "iso", BirthDate(1950, 3, 4)),
        ("04/03/1950", "dmy", BirthDate(1950, 3, 4)),
        ("1950", "dmy", BirthDate(1950)),
    ],
)
def test_birth_dates_in_both_formats(text: str, fmt: str, expected: BirthDate) -> None:
    assert xmlcodec.parse_birth(text, fmt) == expected
    assert xmlcodec.format_birth(expected, fmt) == text


def test_an_impossible_date_from_the_registry_is_malformed() -> None:
    with pytest.raises(GatewayError) as caught:
        xmlcodec.parse_birth("31/02/1950", "dmy")
    assert caught.value.code == errors.MALFORMED_RESPONSE
