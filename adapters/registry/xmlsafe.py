"""Hardened XML parsing for everything a registry sends us.

lxml with DTD loading, entity resolution and network access off and huge trees refused; a
document that carries a DOCTYPE at all (the vehicle of XXE and billion-laughs attacks) is refused
with ``registry.hostile_xml`` before any of its content is looked at.
"""

from __future__ import annotations

import re

from lxml import etree

from adapters.registry import errors

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        dtd_validation=False,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


_ELEMENT_START = re.compile(rb"<[A-Za-z_]")


def has_doctype(data: bytes) -> bool:
    """A cheap pre-check: is there a DOCTYPE in the prolog (before the root element)?"""
    head = data[:65536]
    match = _ELEMENT_START.search(head)
    prolog = head[: match.start()] if match else head
    return b"<!DOCTYPE" in prolog.upper()


def parse(data: bytes) -> etree._Element:
    """Parse a registry answer or request; refuse DTDs and entities, never resolve anything."""
    if has_doctype(data):
        raise errors.protocol(errors.HOSTILE_XML, "a DOCTYPE declaration is not accepted")
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        reason = str(exc).split(",")[0][:120]
        if "entity" in reason.lower() or "huge" in reason.lower():
            raise errors.protocol(errors.HOSTILE_XML, reason) from None
        raise errors.protocol(errors.MALFORMED_RESPONSE, reason) from None
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None:
        raise errors.protocol(errors.HOSTILE_XML, "a DOCTYPE declaration is not accepted")
    for node in root.iter(etree.Entity):
        raise errors.protocol(errors.HOSTILE_XML, f"entity reference &{node.name}; refused")
    return root


def soap_body(envelope: etree._Element) -> etree._Element:
    """The first element inside soap:Body (1.1 or 1.2)."""
    for ns in (SOAP11, SOAP12):
        body = envelope.find(f"{{{ns}}}Body")
        if body is not None:
            for child in body:
                if isinstance(child.tag, str):
                    return child
            break
    raise errors.protocol(errors.MALFORMED_RESPONSE, "no SOAP Body content")


def fault_of(element: etree._Element) -> tuple[str, str] | None:
    """(faultcode, faultstring) when the body element is a SOAP 1.1/1.2 Fault."""
    if element.tag == f"{{{SOAP11}}}Fault":
        return (element.findtext("faultcode") or "", element.findtext("faultstring") or "")
    if element.tag == f"{{{SOAP12}}}Fault":
        code = element.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value") or ""
        text = element.findtext(f"{{{SOAP12}}}Reason/{{{SOAP12}}}Text") or ""
        return (code, text)
    return None
