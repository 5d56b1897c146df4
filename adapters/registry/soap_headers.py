"""SOAP headers the registry may demand: X-Road message headers and a WS-Security signature.

X-Road (``pr-mess_x-road_message_protocol``): ``client``, ``service``, ``id``, ``userId``,
``issue`` and ``protocolVersion`` — written as elements, so they work whether or not the
registry's WSDL declares them; answers carry them back with the provider security server's
``requestHash`` of our request (checked by ``soap.check_xroad_answer``). WS-Security: a
``wsu:Timestamp`` plus an XML signature over the Body and the Timestamp, made by zeep's
``MemorySignature`` (xmlsec) with the key and certificate from ``certs/`` (``client.key``,
``client.crt``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from adapters.registry import errors

XROAD = "http://x-road.eu/xsd/xroad.xsd"
XROAD_ID = "http://x-road.eu/xsd/identifiers"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PROTOCOL_VERSION = "4.0"
# requestHash: the provider's security server hashes the request SOAP message it received, so
# the client can prove which query an answer belongs to (X-Road message protocol 4.0, §2.4)
HASH_ALGORITHMS = {
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
}
DEFAULT_HASH = "http://www.w3.org/2001/04/xmlenc#sha512"  # X-Road 6's default


def request_hash(message: bytes, algorithm_id: str = DEFAULT_HASH) -> str:
    """Base64 of the request message's hash, as X-Road writes it into ``xrd:requestHash``."""
    return base64.b64encode(hashlib.new(HASH_ALGORITHMS[algorithm_id], message).digest()).decode()


@dataclass(frozen=True)
class XRoadIdentity:
    client: str  # INSTANCE/CLASS/MEMBER[/SUBSYSTEM]
    service: str  # INSTANCE/CLASS/MEMBER[/SUBSYSTEM] of the registry's subsystem
    user_id: str | None = None
    issue: str | None = None
    service_version: str | None = None

    def __post_init__(self) -> None:
        for name in ("client", "service"):
            parts = getattr(self, name).split("/")
            if not 3 <= len(parts) <= 4 or not all(parts):
                raise ValueError(f"X-Road {name} must be INSTANCE/CLASS/MEMBER[/SUBSYSTEM]")

    def elements(self, operation: str) -> list[etree._Element]:
        client = _identifier("client", self.client, None, None)
        service = _identifier("service", self.service, operation, self.service_version)
        out = [client, service, _text("id", str(uuid.uuid4()))]
        if self.user_id:
            out.append(_text("userId", self.user_id))
        if self.issue:
            out.append(_text("issue", self.issue))
        out.append(_text("protocolVersion", PROTOCOL_VERSION))
        return out


def _text(name: str, value: str) -> etree._Element:
    elem = etree.Element(f"{{{XROAD}}}{name}", nsmap={"xrd": XROAD})
    elem.text = value
    return elem


def _identifier(name: str, value: str, code: str | None, version: str | None) -> etree._Element:
    parts = value.split("/")
    kind = "SERVICE" if code else ("SUBSYSTEM" if len(parts) == 4 else "MEMBER")
    elem = etree.Element(f"{{{XROAD}}}{name}", nsmap={"xrd": XROAD, "id": XROAD_ID})
    elem.set(f"{{{XROAD_ID}}}objectType", kind)
    names = ["xRoadInstance", "memberClass", "memberCode", "subsystemCode"]
    for tag, part in zip(names, parts, strict=False):
        etree.SubElement(elem, f"{{{XROAD_ID}}}{tag}").text = part
    if code:
        etree.SubElement(elem, f"{{{XROAD_ID}}}serviceCode").text = code
        if version:
            etree.SubElement(elem, f"{{{XROAD_ID}}}serviceVersion").text = version
    return elem


class TimestampedSignature:
    """WS-Security: add a Timestamp, then sign Body + Timestamp (zeep ``MemorySignature``)."""

    def __init__(self, key_pem: bytes, cert_pem: bytes, *, validity_seconds: int = 300) -> None:
        import xmlsec
        from zeep.wsse.signature import MemorySignature

        transform: Any = xmlsec.Transform  # type: ignore[attr-defined]

        ec = b"BEGIN EC PRIVATE KEY" in key_pem or _is_ec(key_pem)
        self.validity = validity_seconds
        self.signer = MemorySignature(
            key_pem,
            cert_pem,
            signature_method=transform.ECDSA_SHA256 if ec else transform.RSA_SHA256,
            digest_method=transform.SHA256,
        )

    @classmethod
    def from_certs(cls, certs_dir: Path) -> TimestampedSignature:
        return cls((certs_dir / "client.key").read_bytes(), (certs_dir / "client.crt").read_bytes())

    def apply(self, envelope: etree._Element, headers: Any) -> tuple[etree._Element, Any]:
        from zeep.wsse.utils import WSU as WSU_MAKER
        from zeep.wsse.utils import get_security_header, get_timestamp

        now = dt.datetime.now(dt.UTC)
        security = get_security_header(envelope)
        security.append(
            WSU_MAKER.Timestamp(
                WSU_MAKER.Created(get_timestamp(now, zulu_timestamp=True)),
                WSU_MAKER.Expires(
                    get_timestamp(now + dt.timedelta(seconds=self.validity), zulu_timestamp=True)
                ),
            )
        )
        result: tuple[etree._Element, Any] = self.signer.apply(envelope, headers)
        return result

    def verify(self, envelope: etree._Element) -> etree._Element:
        checked: etree._Element = self.signer.verify(envelope)
        return checked


WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
DS = "http://www.w3.org/2000/09/xmldsig#"
CLOCK_SKEW = dt.timedelta(seconds=60)


class AnswerSignature:
    """WS-Security on the registry's answers: an XML signature by the registry's certificate
    over the Body and the Timestamp, and a Timestamp that has not expired.

    zeep's ``verify`` checks the signature over whatever the references name; it does not ask
    *what* was signed. So the Body and the Timestamp must each be referenced, and each
    referenced id must occur once (otherwise a signed element could be moved aside and a forged
    Body put in its place — XML signature wrapping)."""

    def __init__(self, cert_pem: bytes) -> None:
        from zeep.wsse.signature import MemorySignature

        self._checker = MemorySignature(b"", cert_pem)

    def check(self, envelope: etree._Element, now: dt.datetime | None = None) -> None:
        from zeep.exceptions import SignatureVerificationFailed

        def refuse(why: str) -> errors.UpstreamProtocolError:
            return errors.protocol(errors.BAD_SIGNATURE, why)

        soap = etree.QName(envelope).namespace
        header, body = envelope.find(f"{{{soap}}}Header"), envelope.find(f"{{{soap}}}Body")
        security = header.find(f"{{{WSSE}}}Security") if header is not None else None
        signature = security.find(f"{{{DS}}}Signature") if security is not None else None
        if body is None or security is None or signature is None:
            raise refuse("the answer is not signed")
        signed = {
            (ref.get("URI") or "")[1:]
            for ref in signature.iterfind(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
        }
        stamp = security.find(f"{{{WSU}}}Timestamp")
        for part, name in ((body, "Body"), (stamp, "Timestamp")):
            if part is None or part.get(f"{{{WSU}}}Id") not in signed:
                raise refuse(f"the signature does not cover the {name}")
        ids = [str(v) for v in envelope.xpath("//@wsu:Id", namespaces={"wsu": WSU})]
        if any(ids.count(i) != 1 for i in signed):
            raise refuse("a signed id occurs more than once")
        try:
            self._checker.verify(envelope)
        except SignatureVerificationFailed:
            raise refuse("the signature does not verify with the registry's certificate") from None
        assert stamp is not None
        expires = stamp.findtext(f"{{{WSU}}}Expires") or ""
        try:
            until = dt.datetime.fromisoformat(expires.strip().replace("Z", "+00:00"))
        except ValueError:
            raise refuse("the signed Timestamp has no readable Expires") from None
        if until.tzinfo is None or until + CLOCK_SKEW < (now or dt.datetime.now(dt.UTC)):
            raise refuse("the signed answer has expired")


def _is_ec(key_pem: bytes) -> bool:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = serialization.load_pem_private_key(key_pem, password=None)
    return isinstance(key, ec.EllipticCurvePrivateKey)
