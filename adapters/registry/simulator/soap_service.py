"""The simulator's SOAP side: any WSDL whose mapping file describes it is served by this one
handler (the mapping says where each field is), so the second registry WSDL needs no code."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from adapters.registry import xmlcodec, xmlsafe
from adapters.registry.mapping import Operation, RegistryMapping
from adapters.registry.port import TickRecord
from adapters.registry.simulator.store import Store
from adapters.registry.soap_headers import DEFAULT_HASH, TimestampedSignature, request_hash
from gateway.errors import GatewayError

XROAD_NS = "http://x-road.eu/xsd/xroad.xsd"
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PID = re.compile(r"^\d{12}$")
Values = dict[str, Any]


@dataclass
class SoapRequestInfo:
    """What the simulator noticed about one request (``GET /_admin/requests``); no payloads."""

    operation: str
    xroad: dict[str, str]
    wsse_signed: bool
    wsse_valid: bool | None
    items: int


class SoapFault(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class SoapService:
    def __init__(
        self,
        store: Store,
        mapping: RegistryMapping,
        wsdl_path: Path,
        *,
        wsse_cert: bytes | None = None,
        answer_signer: TimestampedSignature | None = None,
    ) -> None:
        self.store, self.m = store, mapping
        self.wsdl_template = wsdl_path.read_text(encoding="utf-8")
        self.wsse_cert = wsse_cert
        # a registry that checks WS-Security on requests signs its answers too (server.key)
        self.answer_signer = answer_signer
        self.by_element = {op.request.element: op for op in mapping.operations.values()}
        self.handlers: dict[str, Callable[[Operation, etree._Element], etree._Element]] = {
            "lookup": self._lookup,
            "verify_batch": self._verify,
            "resolve_legacy": self._resolve,
            "publish_tick": self._publish,
            "withdraw_tick": self._withdraw,
            "enrolled": self._enrolled,
            "changes": self._changes,
        }

    def wsdl(self, address: str) -> bytes:
        return self.wsdl_template.replace("{{ADDRESS}}", address).encode()

    # -- one request ------------------------------------------------------------------------
    def handle(
        self,
        data: bytes,
        *,
        require_wsse: bool,
        wrong_request_hash: bool = False,
        tamper_answer: bool = False,
    ) -> tuple[bytes, SoapRequestInfo | None, bool]:
        """(answer, what was seen, is it a Fault); answers in the request's SOAP version. An
        X-Road request is answered as a security server would: its headers echoed, plus the
        ``requestHash`` of the request message (of another message with ``wrong_request_hash``).
        A signed request gets a signed answer; ``tamper_answer`` changes it after signing."""
        try:
            envelope = xmlsafe.parse(data)
            body = xmlsafe.soap_body(envelope)
        except GatewayError as exc:
            return fault("soap:Client", exc.message), None, True
        ns = etree.QName(envelope).namespace or xmlsafe.SOAP11
        header = envelope.find(f"{{{ns}}}Header")
        info = SoapRequestInfo("?", _xroad(header), _signed(header), None, 0)
        if require_wsse or info.wsse_signed:
            info.wsse_valid = self._wsse_valid(envelope, header)
            if require_wsse and not info.wsse_valid:
                return fault("wsse:FailedCheck", "WS-Security signature invalid", ns), info, True
        op = self.by_element.get(body.tag)
        if op is None:
            name = etree.QName(body).localname
            return fault("soap:Client", f"unknown operation {name}", ns), info, True
        info.operation = op.wsdl_name
        try:
            answer = self.handlers[op.key](op, body)
        except SoapFault as exc:
            return fault(exc.code, exc.message, ns), info, True
        info.items = len(answer)
        hashed = data + b" " if wrong_request_hash else data
        signer = self.answer_signer if info.wsse_signed else None
        out = envelope_of(answer, header, ns, hashed, signer=signer)
        if tamper_answer and signer is not None:  # modified in transit, after the signature
            out = out.replace(b"</soap:Body>", b"<altered/></soap:Body>", 1)
        return out, info, False

    def _wsse_valid(self, envelope: etree._Element, header: etree._Element | None) -> bool:
        if self.wsse_cert is None or header is None or not _signed(header):
            return False
        from zeep.exceptions import SignatureVerificationFailed
        from zeep.wsse.signature import MemorySignature

        try:
            MemorySignature(b"", self.wsse_cert).verify(envelope)
        except SignatureVerificationFailed:
            return False
        expires = header.findtext(f".//{{{WSU_NS}}}Timestamp/{{{WSU_NS}}}Expires")
        if not expires:
            return False
        when = dt.datetime.fromisoformat(expires.replace("Z", "+00:00"))
        return when >= dt.datetime.now(dt.UTC)

    # -- operations (our vocabulary in, the mapping's element names out) ----------------------
    def _status(self, ours: str) -> str | None:
        return self.m.to_theirs("status", ours)

    def _lookup(self, op: Operation, body: etree._Element) -> etree._Element:
        pid = _field(op, body, "pid")
        values: Values = {"status": self._status("invalid")}
        if PID.match(pid):
            person = self.store.person(pid)
            values = {"status": self._status("found" if person else "not_found"), "record": person}
        return xmlcodec.build(self.m, op.response, values)

    def _verify(self, op: Operation, body: etree._Element) -> etree._Element:
        assert op.request.item is not None
        refs_pids = [
            (
                xmlcodec.get(item, op.request.item_fields["ref"]) or "",
                xmlcodec.get(item, op.request.item_fields["pid"]) or "",
            )
            for item in body.iterfind(op.request.item.element_path)
        ]
        if len(refs_pids) > self.m.max_batch:
            raise SoapFault("soap:Client", f"at most {self.m.max_batch} items per call")
        people = self.store.people([pid for _, pid in refs_pids if PID.match(pid)])
        results = []
        for ref, pid in refs_pids:
            person = people.get(pid)
            status = "invalid" if not PID.match(pid) else "found" if person else "not_found"
            results.append({"ref": ref, "status": self._status(status), "record": person})
        return xmlcodec.build(self.m, op.response, {}, results)

    def _resolve(self, op: Operation, body: etree._Element) -> etree._Element:
        pid = self.store.resolve_legacy(_field(op, body, "legacy_id"))
        values = {"status": self._status("found" if pid else "not_found"), "pid": pid}
        return xmlcodec.build(self.m, op.response, values)

    def _tick(self, op: Operation, body: etree._Element) -> TickRecord:
        return TickRecord(
            *(
                _field(op, body, name)
                for name in (
                    "pid",
                    "exclusion_group",
                    "period",
                    "locality",
                    "programme",
                    "payment_ref",
                )
            )
        )

    def _publish(self, op: Operation, body: etree._Element) -> etree._Element:
        fresh = self.store.publish_tick(self._tick(op, body))
        return xmlcodec.build(self.m, op.response, {"status": "ACCEPTED" if fresh else "DUPLICATE"})

    def _withdraw(self, op: Operation, body: etree._Element) -> etree._Element:
        gone = self.store.withdraw_tick(self._tick(op, body))
        return xmlcodec.build(self.m, op.response, {"status": "WITHDRAWN" if gone else "NOT_FOUND"})

    def _enrolled(self, op: Operation, body: etree._Element) -> etree._Element:
        found = self.store.enrolled(_field(op, body, "pid"))
        items = [
            {
                "programme": e.programme,
                "locality": e.locality,
                "period": e.period,
                "status": e.status,
                "exclusion_group": e.exclusion_group,
            }
            for e in found
        ]
        return xmlcodec.build(self.m, op.response, {}, items)

    def _changes(self, op: Operation, body: etree._Element) -> etree._Element:
        cursor = (
            xmlcodec.get(body, op.request.fields["cursor"])
            if "cursor" in op.request.fields
            else None
        )
        limit = _field(op, body, "limit")
        if not (cursor or "0").isdigit() or not limit.isdigit():
            raise SoapFault("soap:Client", "cursor and limit must be numbers")
        events = self.store.events(int(cursor or 0), min(int(limit), 1000))
        fmt = self.m.formats.get("death_date", "iso")
        items = [
            {
                "cursor": str(e.seq),
                "kind": self.m.to_theirs("event_kind", e.kind),
                "pid": e.pid,
                "new_pid": e.new_pid,
                "death_date": xmlcodec.format_date(e.death_date, fmt),
                "residence_scheme": e.residence.scheme if e.residence else None,
                "residence_code": e.residence.commune_code if e.residence else None,
            }
            for e in events
        ]
        next_cursor = str(events[-1].seq) if events else cursor
        return xmlcodec.build(self.m, op.response, {"next_cursor": next_cursor}, items)


def _field(op: Operation, body: etree._Element, name: str) -> str:
    value = xmlcodec.get(body, op.request.fields[name])
    if value is None:
        raise SoapFault("soap:Client", f"{name} is required")
    return value


def _xroad(header: etree._Element | None) -> dict[str, str]:
    if header is None:
        return {}
    found = {}
    for elem in header:
        if isinstance(elem.tag, str) and elem.tag.startswith(f"{{{XROAD_NS}}}"):
            name = etree.QName(elem).localname
            found[name] = "/".join(t.strip() for t in elem.itertext() if t.strip())
    return found


def _signed(header: etree._Element | None) -> bool:
    return (
        header is not None
        and header.find(".//{http://www.w3.org/2000/09/xmldsig#}Signature") is not None
    )


def envelope_of(
    answer: etree._Element,
    request_header: etree._Element | None,
    ns: str = xmlsafe.SOAP11,
    request: bytes | None = None,
    *,
    signer: TimestampedSignature | None = None,
) -> bytes:
    env = etree.Element(f"{{{ns}}}Envelope", nsmap={"soap": ns})
    if request_header is not None:  # X-Road echoes the request's protocol headers
        echo = [
            e
            for e in request_header
            if isinstance(e.tag, str) and e.tag.startswith(f"{{{XROAD_NS}}}")
        ]
        if echo:
            header = etree.SubElement(env, f"{{{ns}}}Header")
            header.extend(echo)
            if request is not None:  # hashed only when there is an X-Road header to carry it
                stamp = etree.SubElement(header, f"{{{XROAD_NS}}}requestHash")
                stamp.set("algorithmId", DEFAULT_HASH)
                stamp.text = request_hash(request)
    etree.SubElement(env, f"{{{ns}}}Body").append(answer)
    if signer is not None:
        env, _ = signer.apply(env, {})
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def fault(code: str, message: str, ns: str = xmlsafe.SOAP11) -> bytes:
    if ns == xmlsafe.SOAP12:
        inner = (
            f"<soap:Code><soap:Value>{_esc(code)}</soap:Value></soap:Code>"
            f'<soap:Reason><soap:Text xml:lang="en">{_esc(message)}</soap:Text></soap:Reason>'
        )
    else:
        inner = f"<faultcode>{_esc(code)}</faultcode><faultstring>{_esc(message)}</faultstring>"
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{ns}"><soap:Body><soap:Fault>{inner}'
        "</soap:Fault></soap:Body></soap:Envelope>"
    ).encode()


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
