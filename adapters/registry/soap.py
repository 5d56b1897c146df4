"""The registry over SOAP: a WSDL (loaded offline by zeep) plus a mapping file.

zeep reads the WSDL — endpoint address, SOAP version, SOAPAction, and the shape of every
operation — and checks at start-up that the mapping's request paths build exactly the message
zeep itself would build for that operation (``_check_against_wsdl``), so a wrong mapping fails
fast with the operation named. Calls are then built and read along the mapping's paths with
lxml (zeep's per-item serialisation costs ~45 µs a person; the batch path would spend more on it
than the registry spends answering), sent through the shared HTTP policy (timeouts, retries,
breaker, concurrency limit), and parsed with DTDs and entities refused.

Operations used (by default mapping, ``mappings/registry/default.toml``): ``lookupPerson``,
``verifyPersons`` (batch), ``resolveLegacyId``, ``publishTick``, ``withdrawTick``, ``enrolled``,
``listChanges`` — see ``adapters/registry/simulator/registry.wsdl``.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Sequence
from typing import Any

from lxml import etree

from adapters.http import Resilience
from adapters.registry import errors, xmlcodec, xmlsafe
from adapters.registry.mapping import MappingError, Operation, RegistryMapping
from adapters.registry.port import (
    ChangeEvent,
    ChangePage,
    Enrolment,
    RegistryPerson,
    Residence,
    TickRecord,
    VerifyRequest,
    VerifyResult,
    compare_fields,
)
from adapters.registry.soap_headers import (
    DEFAULT_HASH,
    HASH_ALGORITHMS,
    XROAD,
    AnswerSignature,
    TimestampedSignature,
    XRoadIdentity,
    request_hash,
)
from adapters.registry.wire import Wire
from adapters.registry.wsdl_loading import CatalogTransport, load_client
from gateway.errors import GatewayError
from gateway.settings import HttpSettings

log = logging.getLogger("ansinh.registry.soap")
SOAP_CONTENT = {
    xmlsafe.SOAP11: "text/xml; charset=utf-8",
    xmlsafe.SOAP12: "application/soap+xml; charset=utf-8",
}


class SoapRegistry:
    """``RegistryPort`` over SOAP for any registry a mapping file describes."""

    def __init__(
        self,
        mapping: RegistryMapping,
        *,
        wsdl: str,
        http: HttpSettings,
        transport: CatalogTransport,
        wire: Wire | None = None,
        address: str | None = None,
        xroad: XRoadIdentity | None = None,
        wsse: TimestampedSignature | None = None,
        answer_signature: AnswerSignature | None = None,
        resilience: Resilience | None = None,
    ) -> None:
        self.m = mapping
        self.name = mapping.name
        self.http = http
        self.wire = wire or Wire(http, errors.SYSTEM)
        self.xroad, self.wsse, self.answer_signature = xroad, wsse, answer_signature
        self.resilience = resilience or Resilience(http, errors.SYSTEM)
        self.wsdl, self.transport, self.configured_address = wsdl, transport, address
        self.max_batch = mapping.max_batch if mapping.op("verify_batch") else 1
        self._ready = False
        self._lock = threading.Lock()
        self.address = address or ""
        self.soap_ns = xmlsafe.SOAP11
        self.actions: dict[str, str] = {}

    def check(self) -> None:
        """Load the WSDL (offline catalog) and check every mapped operation against it; done
        on first use, so a registry that is down does not stop the gateway from starting."""
        with self._lock:
            if self._ready:
                return
            client = load_client(self.wsdl, self.transport)
            try:
                service = client.bind(self.m.service, self.m.port)
            except (ValueError, KeyError) as exc:
                raise MappingError(
                    f"registry mapping {self.m.source}: service/port: {exc}"
                ) from None
            binding = service._binding
            self.address = self.configured_address or service._binding_options["address"]
            self.soap_ns = binding.nsmap.get("soap-env", xmlsafe.SOAP11)
            for op in self.m.operations.values():
                self.actions[op.key] = _check_against_wsdl(client, binding, op, self.m)
            self._ready = True

    # -- the wire ---------------------------------------------------------------------------
    def _envelope(self, op: Operation, body: etree._Element) -> tuple[bytes, str | None]:
        """(the request message, its X-Road id when X-Road headers are sent)."""
        env = etree.Element(f"{{{self.soap_ns}}}Envelope", nsmap={"soap": self.soap_ns})
        xroad_id = None
        if self.xroad is not None:
            headers = self.xroad.elements(op.wsdl_name)
            xroad_id = next(h.text for h in headers if h.tag == f"{{{XROAD}}}id")
            etree.SubElement(env, f"{{{self.soap_ns}}}Header").extend(headers)
        etree.SubElement(env, f"{{{self.soap_ns}}}Body").append(body)
        if self.wsse is not None:
            env, _ = self.wsse.apply(env, {})
        return etree.tostring(env, xml_declaration=True, encoding="utf-8"), xroad_id

    def _headers(self, op: Operation) -> dict[str, str]:
        headers = {"Content-Type": SOAP_CONTENT.get(self.soap_ns, "text/xml; charset=utf-8")}
        action = self.actions[op.key]
        if self.soap_ns == xmlsafe.SOAP11:
            headers["SOAPAction"] = f'"{action}"'
        elif action:
            headers["Content-Type"] += f'; action="{action}"'
        return headers

    def _call(
        self, key: str, values: dict[str, Any], items: Sequence[dict[str, Any]] = ()
    ) -> etree._Element:
        if not self._ready:
            self.check()
        op = self.m.op(key)
        if op is None:
            raise errors.unsupported(key)
        data, xroad_id = self._envelope(op, xmlcodec.build(self.m, op.request, values, items))
        headers = self._headers(op)
        return self.resilience.call(lambda: self._post(op, data, headers, xroad_id))

    def _post(
        self, op: Operation, data: bytes, headers: dict[str, str], xroad_id: str | None = None
    ) -> etree._Element:
        status, body = self.wire.post(self.address, data, headers)
        if status >= 400 and b"Fault" not in body[:2000]:
            self.wire.check_status(status)
        envelope = xmlsafe.parse(body)
        element = xmlsafe.soap_body(envelope)
        found = xmlsafe.fault_of(element)
        if found is not None:
            raise errors.fault(found[1][:200] or None, faultcode=found[0])
        if self.answer_signature is not None:
            self.answer_signature.check(envelope)
        if xroad_id is not None:
            check_xroad_answer(envelope, data, xroad_id)
        if element.tag != op.response.element:
            raise errors.protocol(
                errors.MALFORMED_RESPONSE, f"expected {etree.QName(op.response.element).localname}"
            )
        return element

    def _status(self, value: str | None) -> str:
        return self.m.to_ours("status", value) or "not_found"

    def _record(
        self,
        elem: etree._Element,
        op: Operation,
        name: str = "record",
        first: dict[Any, etree._Element] | None = None,
    ) -> RegistryPerson | None:
        path = (op.response.fields if name in op.response.fields else op.response.item_fields).get(
            name
        )
        if path is None:
            return None
        if first is not None and len(path.steps) == 1 and path.attribute is None:
            node = first.get(path.steps[0])
        else:
            node = xmlcodec.child(elem, path)
        return None if node is None else xmlcodec.read_record(self.m, node)

    # -- the port -----------------------------------------------------------------------------
    def lookup(self, pid: str) -> RegistryPerson | None:
        answer = self._call("lookup", {"pid": pid})
        op = self.m.operations["lookup"]
        status = self._status(xmlcodec.get(answer, op.response.fields["status"]))
        if status == "invalid":
            raise errors.malformed_id()
        return self._record(answer, op) if status == "found" else None

    def verify(self, requests_: Sequence[VerifyRequest]) -> list[VerifyResult]:
        if not requests_:
            return []
        if self.m.op("verify_batch") is None:
            return [self._verify_one(r) for r in requests_]
        out: list[VerifyResult] = []
        for start in range(0, len(requests_), self.m.max_batch):
            out += self._verify_batch(requests_[start : start + self.m.max_batch])
        return out

    def _verify_one(self, req: VerifyRequest) -> VerifyResult:
        try:
            found = self.lookup(req.pid)
        except GatewayError as exc:
            if exc.code != errors.MALFORMED_ID:
                raise
            return VerifyResult(req.ref, False, error_code=errors.MALFORMED_ID)
        return VerifyResult(req.ref, False) if found is None else compare_fields(req, found)

    def _verify_batch(self, chunk: Sequence[VerifyRequest]) -> list[VerifyResult]:
        fmt = self.m.formats.get("birth_date", "iso")
        items = [
            {
                "ref": r.ref,
                "pid": r.pid,
                "full_name": r.full_name,
                "birth_date": xmlcodec.format_birth(r.birth, fmt),
                "gender": self.m.to_theirs("gender", r.gender),
            }
            for r in chunk
        ]
        op = self.m.operations["verify_batch"]
        answer = self._call("verify_batch", {}, items)
        by_ref = {r.ref: r for r in chunk}
        results: dict[str, VerifyResult] = {}
        for node in xmlcodec.read(op.response, answer)[1]:
            first = xmlcodec.first_children(node)  # one pass for ref, status and the record
            ref = xmlcodec.get_in(first, node, op.response.item_fields["ref"]) or ""
            if ref in by_ref:
                results[ref] = self._result(by_ref[ref], node, op, first)
        missing = errors.protocol(errors.MALFORMED_RESPONSE, "the answer left out a person")
        return [
            results.get(r.ref) or VerifyResult(r.ref, False, error_code=missing.code) for r in chunk
        ]

    def _result(
        self,
        req: VerifyRequest,
        node: etree._Element,
        op: Operation,
        first: dict[Any, etree._Element],
    ) -> VerifyResult:
        status = self._status(xmlcodec.get_in(first, node, op.response.item_fields["status"]))
        if status == "invalid":
            return VerifyResult(req.ref, False, error_code=errors.MALFORMED_ID)
        if status != "found":
            return VerifyResult(req.ref, False)
        try:
            record = self._record(node, op, first=first)
        except GatewayError as exc:
            return VerifyResult(req.ref, False, error_code=exc.code)
        if record is None:
            return VerifyResult(req.ref, False, error_code=errors.MALFORMED_RESPONSE)
        return compare_fields(req, record)

    def resolve_legacy(self, legacy_id: str) -> str | None:
        answer = self._call("resolve_legacy", {"legacy_id": legacy_id})
        op = self.m.operations["resolve_legacy"]
        if self._status(xmlcodec.get(answer, op.response.fields["status"])) != "found":
            return None
        pid_path = op.response.fields.get("pid")
        return xmlcodec.get(answer, pid_path) if pid_path else None

    def _tick_values(self, tick: TickRecord) -> dict[str, Any]:
        return {
            "pid": tick.pid,
            "exclusion_group": tick.exclusion_group,
            "period": tick.period,
            "locality": tick.locality,
            "programme": tick.programme,
            "payment_ref": tick.payment_ref,
        }

    def publish_tick(self, tick: TickRecord) -> None:
        self._call("publish_tick", self._tick_values(tick))

    def withdraw_tick(self, tick: TickRecord, reason: str) -> None:
        self._call("withdraw_tick", {**self._tick_values(tick), "reason": reason or "withdrawn"})

    def enrolled(self, pid: str) -> list[Enrolment]:
        answer = self._call("enrolled", {"pid": pid})
        op = self.m.operations["enrolled"]
        f = op.response.item_fields
        out = []
        for node in xmlcodec.read(op.response, answer)[1]:
            values = {k: xmlcodec.get(node, p) for k, p in f.items()}
            out.append(
                Enrolment(
                    programme=values["programme"] or "",
                    locality=values["locality"] or "",
                    period=values.get("period") or None,
                    status=values["status"] or "",
                    exclusion_group=values.get("exclusion_group") or None,
                )
            )
        return out

    def changes(self, cursor: str | None, limit: int = 500) -> ChangePage:
        answer = self._call("changes", {"cursor": cursor, "limit": str(limit)})
        op = self.m.operations["changes"]
        fields, nodes = xmlcodec.read(op.response, answer)
        fmt = self.m.formats.get("death_date", "iso")
        events = tuple(self._event(node, op, fmt) for node in nodes)
        next_cursor = fields.get("next_cursor") or (events[-1].cursor if events else cursor)
        return ChangePage(events, next_cursor)

    def _event(self, node: etree._Element, op: Operation, fmt: str) -> ChangeEvent:
        v = {k: xmlcodec.get(node, p) for k, p in op.response.item_fields.items()}
        code = v.get("residence_code")
        return ChangeEvent(
            cursor=v["cursor"] or "",
            kind=self.m.to_ours("event_kind", v["kind"]) or "",
            pid=v["pid"] or "",
            new_pid=v.get("new_pid") or None,
            death_date=xmlcodec.parse_date(v.get("death_date"), fmt),
            residence=Residence(v.get("residence_scheme") or "2025-07", code) if code else None,
        )


# -- start-up check: the mapping must build what zeep builds for the WSDL -------------------------

SAMPLES = {
    "ref": "1",
    "pid": "079050000101",
    "full_name": "Nguyễn Văn An",
    "birth_date": "1950-03-04",
    "gender": "M",
    "legacy_id": "123456789",
    "exclusion_group": "g",
    "period": "2026-07",
    "locality": "2025-07:26734",
    "programme": "P",
    "payment_ref": "R",
    "reason": "x",
    "cursor": "0",
    "limit": "5",
}


def _check_against_wsdl(client: Any, binding: Any, op: Operation, m: RegistryMapping) -> str:
    """Build a sample request both ways and compare; return the SOAPAction."""
    operation = binding._operations.get(op.wsdl_name)
    if operation is None:
        have = ", ".join(sorted(binding._operations))
        raise MappingError(
            f"registry mapping {m.source}: operation {op.wsdl_name!r} is not in the WSDL "
            f"(it has: {have})"
        )
    for side, message in (("input", op.request), ("output", op.response)):
        declared = getattr(operation, side).body
        qname = declared.qname.text if declared is not None and declared.qname is not None else None
        if qname != message.element:
            raise MappingError(
                f"registry mapping {m.source}: operations.{op.key} {side} element is {qname}, "
                f"the mapping says {message.element}"
            )
    values = {k: SAMPLES[k] for k in op.request.fields}
    items = [{k: SAMPLES[k] for k in op.request.item_fields}] if op.request.item else []
    ours = xmlcodec.build(m, op.request, values, items)
    try:
        envelope = client.create_message(client.service, op.wsdl_name, **_kwargs(ours))
    except Exception as exc:
        raise MappingError(
            f"registry mapping {m.source}: operations.{op.key}: zeep refuses the mapped "
            f"request ({exc})"
        ) from None
    body = xmlsafe.soap_body(envelope)
    if _shape(body) != _shape(ours):
        raise MappingError(
            f"registry mapping {m.source}: operations.{op.key} request does not match the WSDL: "
            f"zeep builds {_shape(body)}, the mapping builds {_shape(ours)}"
        )
    return str(operation.soapaction or "")


def _kwargs(elem: etree._Element) -> dict[str, Any]:
    """lxml element → zeep keyword arguments (repeated children become lists)."""
    out: dict[str, Any] = {}
    for child_elem in elem:
        name = etree.QName(child_elem).localname
        value: Any = _kwargs(child_elem) if len(child_elem) else child_elem.text
        if name in out:
            out[name] = out[name] if isinstance(out[name], list) else [out[name]]
            out[name].append(value)
        else:
            out[name] = value
    return out


def _shape(elem: etree._Element) -> tuple[Any, ...]:
    return (
        elem.tag,
        (elem.text or "").strip(),
        tuple(_shape(c) for c in elem if isinstance(c.tag, str)),
    )


def check_xroad_answer(envelope: etree._Element, request: bytes, xroad_id: str) -> None:
    """An answer through X-Road must be the answer to *this* request: the echoed ``id`` is ours
    and the provider security server's ``requestHash`` is the hash of the message we sent. An
    answer without X-Road headers (a registry reached directly) is not checked."""
    header = next(
        (
            h
            for ns in (xmlsafe.SOAP11, xmlsafe.SOAP12)
            for h in envelope.iterfind(f"{{{ns}}}Header")
        ),
        None,
    )
    if header is None:
        return
    echoed = header.findtext(f"{{{XROAD}}}id")
    if echoed is not None and echoed.strip() != xroad_id:
        raise errors.protocol(errors.REQUEST_HASH, "the echoed X-Road id is another request's")
    stamp = header.find(f"{{{XROAD}}}requestHash")
    if stamp is None:
        return
    algorithm = stamp.get("algorithmId") or DEFAULT_HASH
    if algorithm not in HASH_ALGORITHMS:
        raise errors.protocol(
            errors.REQUEST_HASH, f"unknown requestHash algorithm {algorithm[:80]}"
        )
    if not hmac.compare_digest((stamp.text or "").strip(), request_hash(request, algorithm)):
        raise errors.protocol(errors.REQUEST_HASH, "requestHash differs from our request's")
