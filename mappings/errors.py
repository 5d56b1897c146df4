"""The two ways a mapping run fails as a whole: a broken mapping file, or a file that is not what
it claims to be. Both name where (file, line, key / column) and why, in English and Vietnamese."""

from __future__ import annotations

from typing import Any

from gateway.errors import GatewayError


class MappingError(GatewayError):
    """A mapping file is invalid: ``path:line: key: message``."""

    status = 422
    code = "mapping.invalid"

    def __init__(self, path: str, line: int | None, key: str, message: str, message_vi: str):
        where = f"{path}:{line}" if line else path
        super().__init__(
            f"{where}: {key}: {message}",
            f"{where}: {key}: {message_vi}",
            field=key,
            detail={"file": path, "line": line, "key": key},
        )
        self.path, self.line, self.key = path, line, key


class FileRejected(GatewayError):
    """The whole file is refused before any row is kept (wrong encoding, sheet, columns…)."""

    status = 422
    code = "intake.file_rejected"

    def __init__(self, rule: str, message: str, message_vi: str, **detail: object) -> None:
        super().__init__(message, message_vi, field="file", detail={"rule": rule, **detail})
        self.rule = rule

    def as_dict(self) -> dict[str, Any]:
        body = super().as_dict()
        body["errors"] = [
            {
                "field": "file",
                "rule": self.rule,
                "message": self.message,
                "message_vi": self.message_vi,
            }
        ]
        return body
