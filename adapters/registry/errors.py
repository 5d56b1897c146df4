"""The registry's failure vocabulary: one stable code per cause, in English and Vietnamese.

Every adapter (fake, SOAP, REST) reports the same codes, so a verification run records the same
outcome whichever registry answered. ``retryable`` says whether a later run may try again.
"""

from __future__ import annotations

from gateway.errors import (
    GatewayError,
    Unauthorized,
    UpstreamProtocolError,
    UpstreamRejected,
    UpstreamUnavailable,
)

SYSTEM = "registry"

UNKNOWN_ID = "registry.unknown_id"  # the registry holds no such personal ID (an outcome)
MALFORMED_ID = "registry.malformed_id"  # the registry refused the ID as malformed
FAULT = "registry.fault"  # a SOAP Fault or an SPDCI "rjct"/"err" answer for the whole call
TIMEOUT = "registry.timeout"  # from adapters.http.translate
UNAVAILABLE = "registry.unavailable"  # connection refused (adapters.http.translate)
HOSTILE_XML = "registry.hostile_xml"  # DTD, entity declarations, external references
OVERSIZED = "registry.oversized"  # from adapters.http.read_limited
MALFORMED_RESPONSE = "registry.malformed_response"  # not XML/JSON, or not the mapped shape
BAD_SIGNATURE = "registry.bad_signature"  # a signed answer whose signature does not verify
REQUEST_HASH = "registry.request_hash_mismatch"  # X-Road: the answer is for another request
TOKEN_EXPIRED = "registry.token_expired"  # noqa: S105 - an error code; OAuth2 token refused even after a refresh
UNSUPPORTED = "registry.unsupported"  # the mapping names no operation for this request
WSDL_REFUSED = "registry.wsdl_refused"  # a WSDL/XSD we refuse to load (hostile, off-catalog)

MESSAGES: dict[str, tuple[str, str]] = {
    UNKNOWN_ID: ("the registry holds no person with this ID", "CSDLQG không có người với số này"),
    MALFORMED_ID: (
        "the registry refused the personal ID as malformed",
        "CSDLQG từ chối số định danh vì sai định dạng",
    ),
    FAULT: ("the registry answered with a fault", "CSDLQG trả lời lỗi"),
    HOSTILE_XML: (
        "the registry's answer contains a DTD or entity declarations and was refused",
        "phản hồi của CSDLQG chứa DTD hoặc khai báo thực thể nên bị từ chối",
    ),
    MALFORMED_RESPONSE: (
        "the registry's answer could not be read",
        "không đọc được phản hồi của CSDLQG",
    ),
    BAD_SIGNATURE: (
        "the registry's answer carries a signature that does not verify",
        "chữ ký trên phản hồi của CSDLQG không hợp lệ",
    ),
    REQUEST_HASH: (
        "the registry's answer does not belong to our request (X-Road requestHash or id differs)",
        "phản hồi của CSDLQG không khớp với yêu cầu đã gửi (requestHash hoặc id X-Road khác)",
    ),
    TOKEN_EXPIRED: (
        "the registry refused our access token, even after renewing it",
        "CSDLQG từ chối mã truy cập, kể cả sau khi đã cấp lại",
    ),
    UNSUPPORTED: (
        "this registry offers no operation for the request",
        "CSDLQG này không hỗ trợ yêu cầu",
    ),
    WSDL_REFUSED: ("the registry WSDL was refused", "WSDL của CSDLQG bị từ chối"),
}


def _texts(code: str, detail: str | None) -> tuple[str, str]:
    en, vi = MESSAGES[code]
    return (f"{en}: {detail}", f"{vi}: {detail}") if detail else (en, vi)


def fault(detail: str | None = None, *, faultcode: str | None = None) -> UpstreamRejected:
    en, vi = _texts(FAULT, detail)
    extra = {"faultcode": faultcode} if faultcode else {}
    return UpstreamRejected(en, vi, code=FAULT, detail=extra)


def protocol(code: str, detail: str | None = None) -> UpstreamProtocolError:
    """Hostile, malformed or unsigned answers: never retried (the peer must be fixed)."""
    en, vi = _texts(code, detail)
    return UpstreamProtocolError(en, vi, code=code)


def token_expired() -> GatewayError:
    en, vi = MESSAGES[TOKEN_EXPIRED]
    return Unauthorized(en, vi, code=TOKEN_EXPIRED, retryable=False)


def unsupported(operation: str) -> UpstreamRejected:
    en, vi = _texts(UNSUPPORTED, operation)
    return UpstreamRejected(en, vi, code=UNSUPPORTED)


def unavailable(detail: str) -> UpstreamUnavailable:
    return UpstreamUnavailable(
        f"registry unavailable: {detail}", f"CSDLQG không sẵn sàng: {detail}", code=UNAVAILABLE
    )


def wsdl_refused(detail: str) -> UpstreamProtocolError:
    return protocol(WSDL_REFUSED, detail)


def malformed_id() -> UpstreamRejected:
    en, vi = MESSAGES[MALFORMED_ID]
    return UpstreamRejected(en, vi, code=MALFORMED_ID)
