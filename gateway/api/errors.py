"""One JSON error schema for every failure: ``{code, status, message, message_vi, errors}``."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException

from gateway.errors import GatewayError

log = logging.getLogger("ansinh.api")

_GENERIC_VI = {
    400: "Yêu cầu không hợp lệ",
    401: "Chưa xác thực",
    403: "Không có quyền",
    404: "Không tìm thấy",
    405: "Phương thức không được hỗ trợ",
    409: "Xung đột dữ liệu",
    413: "Dữ liệu quá lớn",
    415: "Định dạng không được hỗ trợ",
    422: "Dữ liệu không hợp lệ",
    429: "Quá nhiều yêu cầu",
    500: "Lỗi hệ thống",
}


class FieldErrorSchema(Schema):
    field = fields.String()
    rule = fields.String()
    message = fields.String()
    message_vi = fields.String()
    value = fields.String()


class ErrorSchema(Schema):
    code = fields.String(required=True, metadata={"description": "stable machine code"})
    status = fields.Integer(required=True)
    message = fields.String(required=True)
    message_vi = fields.String(required=True)
    field = fields.String()
    errors = fields.List(fields.Nested(FieldErrorSchema))
    detail = fields.Dict()


def _body(status: int, code: str, message: str, message_vi: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "status": status, "message": message, "message_vi": message_vi, **extra}


def _from_webargs(exc: HTTPException) -> list[dict[str, str]]:
    """webargs puts marshmallow's messages under exc.data['messages'][location][field]."""
    messages = getattr(exc, "data", {}).get("messages", {}) if hasattr(exc, "data") else {}
    out: list[dict[str, str]] = []
    for location, by_field in (messages or {}).items():
        for name, msgs in _flatten(by_field):
            for msg in msgs:
                out.append(
                    {
                        "field": name,
                        "rule": f"{location}.invalid",
                        "message": msg,
                        "message_vi": _vi(msg),
                    }
                )
    return out


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, list[str]]]:
    if isinstance(value, dict):
        items: list[tuple[str, list[str]]] = []
        for key, sub in value.items():
            items += _flatten(sub, f"{prefix}.{key}" if prefix else str(key))
        return items
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [(prefix, value)]
    return [(prefix, [str(value)])]


def _vi(message: str) -> str:
    known = {
        "Missing data for required field.": "Thiếu trường bắt buộc.",
        "Not a valid integer.": "Không phải số nguyên.",
        "Not a valid string.": "Không phải chuỗi ký tự.",
        "Not a valid date.": "Không phải ngày hợp lệ.",
        "Unknown field.": "Trường không được hỗ trợ.",
        "Not a valid list.": "Không phải danh sách.",
        "Not a valid boolean.": "Không phải giá trị đúng/sai.",
        "Field may not be null.": "Trường không được để trống.",
    }
    return known.get(message, "Giá trị không hợp lệ: " + message)


def init_app(app: Flask) -> None:
    @app.errorhandler(GatewayError)
    def gateway_error(exc: GatewayError) -> Any:
        return jsonify(exc.as_dict()), exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        errors = _from_webargs(exc) if status == 422 else []
        if errors:
            first = errors[0]
            body = _body(
                422,
                "validation_failed",
                f"{first['field']}: {first['message']}",
                f"{first['field']}: {first['message_vi']}",
                field=first["field"],
                errors=errors,
            )
        else:
            body = _body(
                status,
                f"http.{status}",
                exc.description or exc.name,
                _GENERIC_VI.get(status, exc.name),
            )
        return jsonify(body), status

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        log.exception("unhandled error", extra={"error_type": type(exc).__name__})
        return jsonify(_body(500, "internal", "internal error", _GENERIC_VI[500])), 500
