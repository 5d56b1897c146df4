"""The gateway's error hierarchy; every failure a person or a client sees is one of these.

::

    GatewayError                      code, status, message (en), message_vi, field, retryable
    ├── ValidationFailed (422)        one or more FieldProblem (field + rule, both languages)
    ├── NotFound (404)
    ├── Conflict (409)                idempotency: same reference, different content
    ├── Forbidden (403)               outside the caller's admin-unit scope or role
    ├── Unauthorized (401)
    ├── InvalidState (409)            a transition the state machine does not allow
    └── UpstreamError (502)           an external system failed; ``retryable`` says whether to retry
        ├── UpstreamUnavailable       connection refused, 5xx, circuit open   (retryable)
        ├── UpstreamTimeout           no answer in time                       (retryable)
        ├── UpstreamRejected          the peer answered "no"                  (not retryable)
        └── UpstreamProtocolError     malformed, hostile or unsigned answer   (not retryable)

Adapters translate library exceptions into these at their boundary (``raise ... from exc``);
one Flask handler renders them with the JSON error schema of ``gateway.api.errors``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldProblem:
    """One rejected field: which field, which rule, why (in English and Vietnamese)."""

    field: str
    rule: str
    message: str
    message_vi: str

    def as_dict(self) -> dict[str, str]:
        return {
            "field": self.field,
            "rule": self.rule,
            "message": self.message,
            "message_vi": self.message_vi,
        }


class GatewayError(Exception):
    status = 500
    code = "internal"
    retryable = False

    def __init__(
        self,
        message: str,
        message_vi: str | None = None,
        *,
        code: str | None = None,
        field: str | None = None,
        retryable: bool | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.message_vi = message_vi or message
        if code:
            self.code = code
        if retryable is not None:
            self.retryable = retryable
        self.field = field
        self.detail = detail or {}

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": self.code,
            "status": self.status,
            "message": self.message,
            "message_vi": self.message_vi,
        }
        if self.field:
            body["field"] = self.field
        if self.detail:
            body["detail"] = self.detail
        return body


class ValidationFailed(GatewayError):
    status = 422
    code = "validation_failed"

    def __init__(self, problems: list[FieldProblem], *, code: str | None = None) -> None:
        first = problems[0]
        super().__init__(first.message, first.message_vi, code=code, field=first.field)
        self.problems = problems

    def as_dict(self) -> dict[str, Any]:
        body = super().as_dict()
        body["errors"] = [p.as_dict() for p in self.problems]
        return body


class NotFound(GatewayError):
    status = 404
    code = "not_found"


class Conflict(GatewayError):
    status = 409
    code = "conflict"


class InvalidState(GatewayError):
    status = 409
    code = "invalid_state"


class Forbidden(GatewayError):
    status = 403
    code = "forbidden"


class Unauthorized(GatewayError):
    status = 401
    code = "unauthorized"


class UpstreamError(GatewayError):
    status = 502
    code = "upstream.error"


class UpstreamUnavailable(UpstreamError):
    code = "upstream.unavailable"
    retryable = True


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream.timeout"
    retryable = True


class UpstreamRejected(UpstreamError):
    code = "upstream.rejected"


class UpstreamProtocolError(UpstreamError):
    code = "upstream.protocol"


def problem(field: str, rule: str, message: str, message_vi: str) -> ValidationFailed:
    """Shorthand for a single-field validation failure."""
    return ValidationFailed([FieldProblem(field, rule, message, message_vi)])
