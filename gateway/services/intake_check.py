"""Intake's first stage: every source record through its mapping and the checks, into a chunk.

A table's compiled mapping (``mappings.compiled``) accepts the clean rows at file speed; a row it
does not accept takes the reference path (the mapping's extraction, then ``record.validate``),
which names every problem — or accepts the row with its warnings. Then what needs the database:
the admin unit of the code in its scheme (old codes translated, split communes kept for a person
to decide) and the amount in force for the coefficient, each looked up once per distinct value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from gateway.errors import FieldProblem, GatewayError, ValidationFailed
from gateway.services import units
from gateway.services.catalogue import Catalogue
from gateway.services.intake_chunk import Chunk, Held, RowSource
from mappings import converters, record
from mappings.compiled import Row
from mappings.engine import Extract

SCHEME, COMMUNE, COEFFICIENT, PROGRAMME = 6, 7, 8, 13


@dataclass
class Stream:
    """One table to read: its records, its compiled and reference mappings, its skip rule."""

    records: Iterator[tuple[int, Any]]  # (where in the file, the record)
    fast: Row
    extract: Extract
    skip: Callable[[Any], bool] | None
    source: RowSource


class RowChecker:
    def __init__(
        self,
        conn: Connection,
        catalogue: Catalogue,
        programme_code: str,
        period: str,
        scope_unit_id: int | None,
    ) -> None:
        self.conn, self.catalogue = conn, catalogue
        self.code, self.period, self.scope_unit_id = programme_code, period, scope_unit_id
        self._units: dict[tuple[str, str], units.Translation] = {}
        # problems, not exceptions: raising one cached exception again and again would chain
        # every raise's frames (and the rows they hold) onto its traceback
        self._unit_errors: dict[tuple[str, str], list[FieldProblem]] = {}
        self._amounts: dict[int | None, int] = {}

    def run(
        self, streams: Iterable[Stream], chunk: Chunk, flush: Callable[[Chunk], Chunk], size: int
    ) -> tuple[int, Chunk]:
        """Read every stream into chunks of ``size`` rows, each handed to ``flush`` when full
        (which returns the chunk to fill next). Returns how many records were read (rows that
        are not records — totals, column numbers — excluded) and the last, partial chunk."""
        number = 0
        unit_of, amount_of, code = self._units.get, self._amounts.get, self.code
        numbers, places, values_, units_, amounts = chunk.lists()
        for stream in streams:
            fast, skip, table = stream.fast, stream.skip, stream.source
            for at, src in stream.records:
                if skip is not None and skip(src):
                    continue
                number += 1
                values = fast(src)
                if values is not None:
                    unit = unit_of((values[SCHEME], values[COMMUNE])) or self._learn_unit(values)
                    amount = amount_of(values[COEFFICIENT])
                    if amount is None:
                        amount = self._learn_amount(values[COEFFICIENT])
                    if (
                        unit is not None
                        and amount is not None
                        and (values[PROGRAMME] is None or values[PROGRAMME] == code)
                    ):
                        numbers.append(number)
                        places.append((at, src, table))
                        values_.append(values)
                        units_.append(unit)
                        amounts.append(amount)
                        if len(numbers) >= size:
                            chunk = flush(chunk)
                            numbers, places, values_, units_, amounts = chunk.lists()
                        continue
                self.diagnose(chunk, number, at, src, stream.extract, table)
                if len(chunk) >= size:
                    chunk = flush(chunk)
                    numbers, places, values_, units_, amounts = chunk.lists()
        return number, chunk

    def _learn_unit(self, values: tuple[Any, ...]) -> units.Translation | None:
        try:
            return self.unit(values[SCHEME], values[COMMUNE])
        except GatewayError:
            return None

    def _learn_amount(self, coefficient: int | None) -> int | None:
        try:
            amount = self.catalogue.amount(self.code, self.period, coefficient)
        except ValidationFailed:
            return None
        self._amounts[coefficient] = amount
        return amount

    def unit(self, scheme: str, code: str) -> units.Translation:
        """The unit records use for ``code`` in ``scheme`` (cached, errors included)."""
        key = (scheme, code)
        found = self._units.get(key)
        if found is not None:
            return found
        problems = self._unit_errors.get(key)
        if problems is None:
            try:
                found = self._units[key] = units.to_current(
                    self.conn, units.resolve(self.conn, scheme, code)
                )
                return found
            except ValidationFailed as exc:
                problems = self._unit_errors[key] = list(exc.problems)
        raise ValidationFailed(problems)

    def diagnose(
        self, chunk: Chunk, number: int, at: int, src: Any, extract: Extract, table: RowSource
    ) -> None:
        """The reference path: accept the row with its warnings, or hold it with every problem."""
        fields, mapped = extract(src)
        checked = record.validate(fields)
        problems = list(mapped)
        unit: units.Translation | None = None
        if isinstance(checked, list):
            problems += checked
            if not any(p.field in ("commune_code", "scheme") for p in checked):
                self._unit_problems(fields, problems)
        else:
            if checked.programme is not None and checked.programme != self.code:
                problems.append(_other_programme(checked.programme, self.code))
            try:
                unit = self.unit(checked.scheme, checked.commune_code)
            except GatewayError as exc:
                problems += getattr(exc, "problems", [])
            if unit is not None:
                try:
                    amount = self.catalogue.amount(
                        self.code, self.period, checked.coefficient_milli
                    )
                except ValidationFailed as exc:
                    problems += exc.problems
            if not problems and unit is not None:
                k = len(chunk.numbers)
                chunk.numbers.append(number)
                chunk.places.append((at, src, table))
                chunk.values.append(checked.values())
                chunk.units.append(unit)
                chunk.amounts.append(amount)
                if checked.warnings:
                    chunk.warnings[k] = checked.warnings
                return
        unit_id = unit.unit.id if unit is not None else self._unit_hint(fields)
        held = Held(number, table.locate(at, src), fields, problems, unit_id or self.scope_unit_id)
        chunk.held.append(held)

    def _unit_problems(self, fields: dict[str, object], problems: list[FieldProblem]) -> None:
        """Every problem of a rejected row, the unknown commune code included."""
        try:
            scheme = converters.admin_scheme(fields.get("scheme")) or "2025-07"
            code = converters.admin_code(fields.get("commune_code"))
            if code is not None:
                self.unit(scheme, code)
        except GatewayError as exc:
            problems.extend(getattr(exc, "problems", []))

    def _unit_hint(self, fields: dict[str, object]) -> int | None:
        """The unit a rejected row belongs to, when its commune code at least is valid (scope)."""
        try:
            scheme = converters.admin_scheme(fields.get("scheme")) or "2025-07"
            code = converters.admin_code(fields.get("commune_code"))
            return None if code is None else self.unit(scheme, code).unit.id
        except GatewayError:
            return None


def _other_programme(listed: str, programme_code: str) -> FieldProblem:
    return FieldProblem(
        "programme",
        "programme.other_list",
        f"row is for {listed}, this list is {programme_code}",
        f"dòng thuộc chương trình {listed}, danh sách là {programme_code}",
    )
