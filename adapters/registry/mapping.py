"""Registry mapping files: which WSDL operation does what, and where each field sits.

A registry differs from another in its operation and element names, its code values and its
date format; a mapping file (TOML, under ``mappings/registry/``) says all of that, so supporting
a new registry WSDL is a matter of writing one (see ``mappings/registry/default.toml``, whose
comments document every key). Loading validates the file and names the key that is wrong.

Paths are ``/``-separated element names relative to the message's wrapper element; a step may
carry a prefix from ``[namespaces]`` (``xrd:client``), otherwise it is in the mapping's default
``namespace`` ("" for unqualified elements); ``@name`` as last step reads an attribute.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

MAPPINGS_ROOT = Path(__file__).resolve().parents[2] / "mappings"

# our vocabulary: per operation, the fields a request / response may map (* = required)
RECORD_FIELDS = (
    "pid*",
    "full_name*",
    "birth_date",
    "gender",
    "vital_status*",
    "death_date",
    "residence_scheme",
    "residence_code",
    "legacy_ids",
)
TICK_FIELDS = ("pid*", "exclusion_group*", "period*", "locality*", "programme*", "payment_ref*")
VOCABULARY: dict[str, dict[str, tuple[str, ...]]] = {
    "lookup": {"request": ("pid*",), "response": ("status*", "record*")},
    "verify_batch": {
        "request.item": ("ref*", "pid*", "full_name", "birth_date", "gender"),
        "response.item": ("ref*", "status*", "record", "error"),
    },
    "resolve_legacy": {"request": ("legacy_id*",), "response": ("status*", "pid")},
    "publish_tick": {"request": TICK_FIELDS, "response": ("status",)},
    "withdraw_tick": {"request": (*TICK_FIELDS, "reason"), "response": ("status",)},
    "enrolled": {
        "request": ("pid*",),
        "response.item": ("programme*", "locality*", "period", "status*", "exclusion_group"),
    },
    "changes": {
        "request": ("cursor", "limit*"),
        "response": ("next_cursor",),
        "response.item": (
            "cursor*",
            "kind*",
            "pid*",
            "new_pid",
            "death_date",
            "residence_scheme",
            "residence_code",
        ),
    },
}
REQUIRED_OPERATIONS = ("lookup",)
CODE_TABLES = ("gender", "vital_status", "status", "event_kind")
DATE_FORMATS = ("iso", "dmy")


class MappingError(ValueError):
    """A mapping file is missing, unreadable or wrong; the message names the file and key."""


@dataclass(frozen=True)
class XPath:
    """A compiled field path: lxml ElementPath steps plus an optional attribute."""

    steps: tuple[str, ...]  # Clark names: "{ns}local"
    attribute: str | None = None

    @cached_property
    def element_path(self) -> str:
        return "/".join(self.steps)


@dataclass(frozen=True)
class Message:
    element: str  # Clark name of the wrapper element (request: the operation element)
    fields: dict[str, XPath] = field(default_factory=dict)
    item: XPath | None = None  # repeated group, one per person / enrolment / event
    item_fields: dict[str, XPath] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    key: str  # our name: lookup, verify_batch, …
    wsdl_name: str  # the WSDL operation
    request: Message
    response: Message


@dataclass(frozen=True)
class RegistryMapping:
    name: str
    source: str
    namespace: str
    namespaces: dict[str, str]
    operations: dict[str, Operation]
    record: dict[str, XPath]
    codes: dict[str, dict[str, str]]  # registry value -> ours
    formats: dict[str, str]
    max_batch: int = 200
    service: str | None = None
    port: str | None = None
    xroad_service_version: str | None = None

    def op(self, key: str) -> Operation | None:
        return self.operations.get(key)

    def to_ours(self, table: str, value: str | None) -> str | None:
        if value is None:
            return None
        codes = self.codes.get(table)
        return codes.get(value, value) if codes else value

    def to_theirs(self, table: str, value: str | None) -> str | None:
        if value is None:
            return None
        codes = self.codes.get(table)
        if not codes:
            return value
        for theirs, ours in codes.items():
            if ours == value:
                return theirs
        return value


def resolve(name: str) -> Path:
    """A mapping file by name relative to ``mappings/`` (``registry/default.toml``) or a path."""
    path = Path(name)
    if not path.is_absolute() and not path.exists():
        path = MAPPINGS_ROOT / name
    return path


def load(name: str) -> RegistryMapping:
    path = resolve(name)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MappingError(f"registry mapping {name}: file not found ({path})") from None
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"registry mapping {path.name}: not valid TOML ({exc})") from None
    return parse(raw, source=path.name)


def parse(raw: dict[str, Any], *, source: str = "<memory>") -> RegistryMapping:
    ctx = _Context(source, raw)
    head = ctx.table(raw, "registry")
    namespace = ctx.text(head, "registry.namespace", allow_empty=True)
    ctx.default_ns = namespace
    ctx.prefixes = {str(k): str(v) for k, v in ctx.table(raw, "namespaces", True).items()}
    operations = {
        key: _operation(ctx, key, value) for key, value in ctx.table(raw, "operations").items()
    }
    for required in REQUIRED_OPERATIONS:
        if required not in operations:
            raise ctx.error(f"operations.{required}", "is required")
    record = _fields(ctx, "record", ctx.table(raw, "record"), RECORD_FIELDS)
    codes = {}
    for table, values in ctx.table(raw, "codes", True).items():
        if table not in CODE_TABLES:
            raise ctx.error(f"codes.{table}", f"is not one of {', '.join(CODE_TABLES)}")
        codes[table] = {
            str(k): str(v) for k, v in ctx.table({table: values}, f"codes.{table}").items()
        }
    formats = {str(k): str(v) for k, v in ctx.table(raw, "formats", True).items()}
    for key, value in formats.items():
        if value not in DATE_FORMATS:
            raise ctx.error(f"formats.{key}", f"must be one of {', '.join(DATE_FORMATS)}")
    max_batch = head.get("max_batch", 200)
    if not isinstance(max_batch, int) or not 1 <= max_batch <= 10_000:
        raise ctx.error("registry.max_batch", "must be an integer between 1 and 10000")
    return RegistryMapping(
        name=ctx.text(head, "registry.name"),
        source=source,
        namespace=namespace,
        namespaces=ctx.prefixes,
        operations=operations,
        record=record,
        codes=codes,
        formats=formats,
        max_batch=max_batch,
        service=head.get("service"),
        port=head.get("port"),
        xroad_service_version=head.get("xroad_service_version"),
    )


class _Context:
    def __init__(self, source: str, raw: dict[str, Any]) -> None:
        self.source = source
        self.default_ns = ""
        self.prefixes: dict[str, str] = {}

    def error(self, key: str, why: str) -> MappingError:
        return MappingError(f"registry mapping {self.source}: {key} {why}")

    def table(self, parent: dict[str, Any], key: str, optional: bool = False) -> dict[str, Any]:
        value = parent.get(key.rsplit(".", 1)[-1])
        if value is None and optional:
            return {}
        if not isinstance(value, dict):
            raise self.error(key, "must be a table")
        return value

    def text(self, parent: dict[str, Any], key: str, *, allow_empty: bool = False) -> str:
        value = parent.get(key.rsplit(".", 1)[-1])
        if not isinstance(value, str) or (not value and not allow_empty):
            raise self.error(
                key, "must be a non-empty string" if not allow_empty else "is required"
            )
        return value

    def qname(self, step: str, key: str) -> str:
        if ":" in step:
            prefix, local = step.split(":", 1)
            if prefix not in self.prefixes:
                raise self.error(key, f"uses prefix {prefix!r}, which [namespaces] does not define")
            return f"{{{self.prefixes[prefix]}}}{local}" if self.prefixes[prefix] else local
        return f"{{{self.default_ns}}}{step}" if self.default_ns else step

    def path(self, value: Any, key: str) -> XPath:
        if not isinstance(value, str) or not value.strip("/ "):
            raise self.error(key, "must be an element path such as 'person/fullName'")
        parts = [p for p in value.strip("/").split("/") if p]
        attribute = None
        if parts[-1].startswith("@"):
            attribute = parts.pop()[1:]
            if not attribute:
                raise self.error(key, "names an empty attribute")
        if any(not p or p.startswith("@") or " " in p for p in parts):
            raise self.error(key, f"is not a valid element path: {value!r}")
        return XPath(tuple(self.qname(p, key) for p in parts), attribute)


def _fields(
    ctx: _Context, key: str, table: dict[str, Any], allowed: tuple[str, ...]
) -> dict[str, XPath]:
    names = {a.rstrip("*") for a in allowed}
    out: dict[str, XPath] = {}
    for name, value in table.items():
        if name not in names:
            raise ctx.error(
                f"{key}.{name}", f"is not a field here (allowed: {', '.join(sorted(names))})"
            )
        out[name] = ctx.path(value, f"{key}.{name}")
    for required in (a[:-1] for a in allowed if a.endswith("*")):
        if required not in out:
            raise ctx.error(f"{key}.{required}", "is required")
    return out


def _message(
    ctx: _Context,
    key: str,
    table: dict[str, Any],
    element: str,
    spec: dict[str, tuple[str, ...]],
    side: str,
) -> Message:
    scalars = {k: v for k, v in table.items() if k not in ("item", "fields", "element")}
    fields = _fields(ctx, key, scalars, spec.get(side, ()))
    item, item_fields = None, {}
    if f"{side}.item" in spec:
        item = ctx.path(table.get("item"), f"{key}.item")
        item_fields = _fields(
            ctx, f"{key}.fields", ctx.table(table, f"{key}.fields"), spec[f"{side}.item"]
        )
    elif "item" in table:
        raise ctx.error(f"{key}.item", "is not expected for this operation")
    return Message(ctx.qname(element, f"{key}.element"), fields, item, item_fields)


def _operation(ctx: _Context, key: str, raw: Any) -> Operation:
    if key not in VOCABULARY:
        raise ctx.error(f"operations.{key}", f"is not one of {', '.join(VOCABULARY)}")
    table = ctx.table({key: raw}, f"operations.{key}")
    wsdl_name = ctx.text(table, f"operations.{key}.operation")
    spec = VOCABULARY[key]
    request = ctx.table(table, f"operations.{key}.request")
    response = ctx.table(table, f"operations.{key}.response")
    return Operation(
        key,
        wsdl_name,
        _message(
            ctx,
            f"operations.{key}.request",
            request,
            request.get("element", wsdl_name),
            spec,
            "request",
        ),
        _message(
            ctx,
            f"operations.{key}.response",
            response,
            response.get("element", f"{wsdl_name}Response"),
            spec,
            "response",
        ),
    )
