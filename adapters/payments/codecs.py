"""Files that any payment channel may receive, decoded the same way everywhere: ISO 20022 status
reports and statements, and post-office return files. Pure functions (no I/O beyond the bytes)."""

from __future__ import annotations

import hashlib

from adapters.payments.errors import rejected
from adapters.payments.iso20022.read import read
from adapters.payments.port import InboundMessage

ISO_KINDS = ("pain.002", "camt.052", "camt.053", "camt.054")


def sniff_kind(body: bytes, filename: str = "") -> str:
    """``iso20022`` for XML, ``return-file`` for CSV/XLSX (by content, then by name)."""
    head = body[:512].lstrip()
    if head.startswith(b"<") or head.startswith(b"\xef\xbb\xbf<"):
        return "iso20022"
    if body[:2] == b"PK" or filename.lower().endswith((".csv", ".xlsx")):
        return "return-file"
    raise rejected(
        "file.kind.unsupported",
        "neither ISO 20022 XML nor a CSV/XLSX return file",
        "không phải tệp XML ISO 20022 hay tệp trả về CSV/XLSX",
    )


def decode_iso(source: str, body: bytes, *, verify: bool = True) -> InboundMessage:
    """A whole ISO 20022 file as one inbox message (its items read eagerly, then applied)."""
    parsed = read(body, validate=verify)
    if parsed.kind == "pain.001":
        raise rejected(
            "file.kind.outbound",
            "a pain.001 is an instruction we send, not a confirmation",
            "pain.001 là lệnh chi do hệ thống gửi đi, không phải xác nhận",
        )
    items = tuple(parsed.items)
    message_id = parsed.message_id or "sha256:" + hashlib.sha256(body).hexdigest()[:40]
    return InboundMessage(
        source,
        f"{parsed.kind}:{message_id}"[:128],
        parsed.kind,
        body,
        items,
        headers={"version": parsed.version or "", "namespace": parsed.namespace},
        warnings=tuple(parsed.warnings),
    )
