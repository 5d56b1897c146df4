"""Reading and writing registry XML along a mapping's paths (used by the SOAP adapter and by
the simulator, so both sides of the wire agree by construction)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from lxml import etree

from adapters.registry import errors
from adapters.registry.mapping import Message, RegistryMapping, XPath
from adapters.registry.port import RegistryPerson, Residence
from gateway.domain.dates import BirthDate

Value = str | list[str] | None


def put(parent: etree._Element, path: XPath, value: Value) -> None:
    """Write a value at a path, reusing the trailing parent elements (``residence/scheme`` and
    ``residence/communeCode`` share one ``residence``); ``None`` writes nothing."""
    if value is None or value == []:
        return
    node = parent
    for step in path.steps[:-1] if path.attribute is None else path.steps:
        last = node[-1] if len(node) else None
        node = last if last is not None and last.tag == step else etree.SubElement(node, step)
    if path.attribute is not None:
        node.set(path.attribute, value if isinstance(value, str) else " ".join(value))
        return
    for text in [value] if isinstance(value, str) else value:
        etree.SubElement(node, path.steps[-1]).text = text


def get(elem: etree._Element, path: XPath) -> str | None:
    if path.attribute is not None:
        node = elem.find(path.element_path) if path.steps else elem
        return None if node is None else node.get(path.attribute)
    text = elem.findtext(path.element_path)
    return None if text is None else text.strip()


def first_children(elem: etree._Element) -> dict[Any, etree._Element]:
    """The first child of each tag: one pass, for reading several fields of a repeated item."""
    first: dict[Any, etree._Element] = {}
    for node in elem:
        first.setdefault(node.tag, node)
    return first


def get_in(first: dict[Any, etree._Element], elem: etree._Element, path: XPath) -> str | None:
    """``get`` with the item's ``first_children`` at hand: a one-step path is a lookup."""
    if len(path.steps) != 1 or path.attribute is not None:
        return get(elem, path)
    node = first.get(path.steps[0])
    text = None if node is None else node.text
    return None if text is None else text.strip()


def get_all(elem: etree._Element, path: XPath) -> list[str]:
    return [(e.text or "").strip() for e in elem.iterfind(path.element_path)]


def child(elem: etree._Element, path: XPath) -> etree._Element | None:
    return elem.find(path.element_path)


def build(
    m: RegistryMapping,
    message: Message,
    values: Mapping[str, Any],
    items: Iterable[Mapping[str, Any]] = (),
) -> etree._Element:
    """The wrapper element of a request or response, fields in mapping order. A field whose
    value is a ``RegistryPerson`` is written as a person record (``[record]`` paths)."""
    root = etree.Element(message.element)
    _fill(m, root, message.fields, values)
    if message.item is not None:
        for item in items:
            _fill(m, _item_node(root, message.item), message.item_fields, item)
    return root


def _fill(
    m: RegistryMapping, node: etree._Element, fields: dict[str, XPath], values: Mapping[str, Any]
) -> None:
    sub = etree.SubElement
    for name, path in fields.items():
        value = values.get(name)
        if value is None:
            continue
        if type(value) is str and len(path.steps) == 1 and path.attribute is None:
            sub(node, path.steps[0]).text = value  # the common case, without put()'s walk
        elif isinstance(value, RegistryPerson):
            write_record(m, node, path, value)
        else:
            put(node, path, value)


def _item_node(root: etree._Element, path: XPath) -> etree._Element:
    node = root
    for step in path.steps[:-1]:
        last = node[-1] if len(node) else None
        node = last if last is not None and last.tag == step else etree.SubElement(node, step)
    return etree.SubElement(node, path.steps[-1])


def read(message: Message, elem: etree._Element) -> tuple[dict[str, str | None], list[Any]]:
    """(scalar fields, item elements) of a wrapper element."""
    fields = {name: get(elem, path) for name, path in message.fields.items()}
    items = list(elem.iterfind(message.item.element_path)) if message.item is not None else []
    return fields, items


# -- dates -----------------------------------------------------------------------------------


def format_birth(birth: BirthDate | None, fmt: str) -> str | None:
    if birth is None:
        return None
    if fmt == "dmy" and not birth.is_year_only:
        return f"{birth.day:02d}/{birth.month:02d}/{birth.year:04d}"
    return birth.iso()


def parse_birth(text: str | None, fmt: str) -> BirthDate | None:
    if not text:
        return None
    try:
        if len(text) == 4:
            return BirthDate(int(text))
        if fmt == "dmy":
            day, month, year = (int(p) for p in text.split("/"))
        else:
            year, month, day = (int(p) for p in text[:10].split("-"))
        dt.date(year, month, day)
    except ValueError:
        raise errors.protocol(errors.MALFORMED_RESPONSE, f"birth date {text!r}") from None
    return BirthDate(year, month, day)


def format_date(value: dt.date | None, fmt: str) -> str | None:
    if value is None:
        return None
    return value.strftime("%d/%m/%Y") if fmt == "dmy" else value.isoformat()


def parse_date(text: str | None, fmt: str) -> dt.date | None:
    birth = parse_birth(text, fmt)
    return None if birth is None else birth.date


# -- person records ----------------------------------------------------------------------------


def record_values(m: RegistryMapping, p: RegistryPerson) -> dict[str, Value]:
    return {
        "pid": p.pid,
        "full_name": p.full_name,
        "birth_date": format_birth(p.birth, m.formats.get("birth_date", "iso")),
        "gender": m.to_theirs("gender", p.gender),
        "vital_status": m.to_theirs("vital_status", p.vital_status),
        "death_date": format_date(p.death_date, m.formats.get("death_date", "iso")),
        "residence_scheme": p.residence.scheme if p.residence else None,
        "residence_code": p.residence.commune_code if p.residence else None,
        "legacy_ids": list(p.legacy_ids),
    }


def write_record(m: RegistryMapping, parent: etree._Element, at: XPath, p: RegistryPerson) -> None:
    node = parent
    for step in at.steps:
        node = etree.SubElement(node, step)
    values = record_values(m, p)
    for name, path in m.record.items():
        put(node, path, values.get(name))


class _Level:
    """What one element level of a record gives: fields read from its text, fields read from
    its attributes, and the child levels below it (by Clark tag)."""

    __slots__ = ("attrs", "children", "leaf", "texts")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.attrs: list[tuple[str, str]] = []
        self.children: dict[str, _Level] = {}
        self.leaf: str | None = None  # the one field of a plain text element (the usual case)

    def finish(self) -> None:
        plain = len(self.texts) == 1 and not self.attrs and not self.children
        self.leaf = self.texts[0] if plain else None
        for child in self.children.values():
            child.finish()


def _clean(value: str | None) -> str | None:
    return (value.strip() or None) if value else None


class RecordReader:
    """A mapping's ``[record]`` compiled for reading: one walk of the record's children along a
    tree of the mapped paths, each field set where the walk meets it (a record is read for every
    person of a batch, so this is hot). At every step the first element with the step's tag is
    the one read, as ``find`` would."""

    def __init__(self, m: RegistryMapping) -> None:
        self.m = m
        self.birth_fmt = m.formats.get("birth_date", "iso")
        self.death_fmt = m.formats.get("death_date", "iso")
        legacy = m.record.get("legacy_ids")
        self.legacy = legacy
        self.legacy_tag = legacy.steps[0] if legacy and len(legacy.steps) == 1 else None
        self.gender = m.codes.get("gender") or {}
        self.vital = m.codes.get("vital_status") or {}
        self.root = _Level()
        for name, path in m.record.items():
            if name == "legacy_ids":
                continue
            level = self.root
            for step in path.steps:
                level = level.children.setdefault(step, _Level())
            if path.attribute is not None:
                level.attrs.append((name, path.attribute))
            else:
                level.texts.append(name)
        self.root.finish()

    def _values(self, elem: etree._Element, legacy: list[str]) -> dict[str, str | None]:
        values: dict[str, str | None] = {}
        for name, attribute in self.root.attrs:
            values[name] = _clean(elem.get(attribute))
        children, legacy_tag, seen = self.root.children, self.legacy_tag, set()
        for child_elem in elem:
            tag = child_elem.tag
            if tag == legacy_tag:
                legacy.append((child_elem.text or "").strip())
                continue
            level = children.get(tag)
            if level is not None and tag not in seen:
                seen.add(tag)
                if level.leaf is not None:  # the usual case, without a call per level
                    values[level.leaf] = _clean(child_elem.text)
                else:
                    _read_level(child_elem, level, values)
        return values

    def read(self, elem: etree._Element) -> RegistryPerson:
        legacy: list[str] = []
        v = self._values(elem, legacy)
        pid, name = v.get("pid"), v.get("full_name")
        if not pid or not name:
            raise errors.protocol(errors.MALFORMED_RESPONSE, "a person record without ID or name")
        if self.legacy is not None and self.legacy_tag is None:
            legacy = get_all(elem, self.legacy)
        gender, vital = v.get("gender"), v.get("vital_status")
        code = v.get("residence_code")
        residence = Residence(v.get("residence_scheme") or "2025-07", code) if code else None
        return RegistryPerson(
            pid=pid,
            full_name=name,
            birth=parse_birth(v.get("birth_date"), self.birth_fmt),
            gender=self.gender.get(gender, gender) if gender else None,
            vital_status=(self.vital.get(vital, vital) if vital else None) or "unknown",
            death_date=parse_date(v.get("death_date"), self.death_fmt),
            residence=residence,
            legacy_ids=tuple(legacy),
        )


def _read_level(elem: etree._Element, level: _Level, values: dict[str, str | None]) -> None:
    if level.texts:
        text = _clean(elem.text)
        for name in level.texts:
            values[name] = text
    for name, attribute in level.attrs:
        values[name] = _clean(elem.get(attribute))
    if level.children:
        seen = set()
        for child_elem in elem:
            tag = child_elem.tag
            below = level.children.get(tag)
            if below is not None and tag not in seen:
                seen.add(tag)
                _read_level(child_elem, below, values)


_READERS: dict[int, RecordReader] = {}


def read_record(m: RegistryMapping, elem: etree._Element) -> RegistryPerson:
    reader = _READERS.get(id(m))
    if reader is None or reader.m is not m:
        reader = _READERS[id(m)] = RecordReader(m)
    return reader.read(elem)
