"""Why an inbound payment message or file was refused. Each has a distinct, stable code; the
refused bytes are kept as evidence by the service layer, and nothing is applied."""

from __future__ import annotations

from gateway.errors import GatewayError


class MessageRejected(GatewayError):
    """A message or file we will not apply: malformed, hostile, schema-invalid, unsupported."""

    status = 422
    code = "payments.message_rejected"


def rejected(code: str, message: str, message_vi: str, **detail: object) -> MessageRejected:
    return MessageRejected(message, message_vi, code=code, detail=dict(detail) or None)
