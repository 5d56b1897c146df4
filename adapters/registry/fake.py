"""In-memory registry for unit tests and the demo. Same port, same semantics as the real ones."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from adapters.registry.port import (
    ChangeEvent,
    ChangePage,
    Enrolment,
    FieldOutcome,
    RegistryPerson,
    TickRecord,
    VerifyRequest,
    VerifyResult,
)
from gateway.domain.names import compare, is_acceptable


def compare_fields(req: VerifyRequest, rec: RegistryPerson) -> VerifyResult:
    """The per-field comparison every registry implementation answers with."""
    fields: dict[str, FieldOutcome] = {}
    name_match = None
    if req.full_name is None:
        fields["name"] = FieldOutcome.MISSING
    else:
        name_match = compare(req.full_name, rec.full_name)
        fields["name"] = FieldOutcome.MATCH if is_acceptable(name_match) else FieldOutcome.MISMATCH
    if req.birth is None or rec.birth is None:
        fields["birth_date"] = FieldOutcome.MISSING
    else:
        ok = req.birth.matches(rec.birth)
        fields["birth_date"] = FieldOutcome.MATCH if ok else FieldOutcome.MISMATCH
    if req.gender is None or rec.gender is None:
        fields["gender"] = FieldOutcome.MISSING
    else:
        ok = req.gender == rec.gender
        fields["gender"] = FieldOutcome.MATCH if ok else FieldOutcome.MISMATCH
    return VerifyResult(
        ref=req.ref,
        found=True,
        fields=fields,
        name_match=name_match,
        vital_status=rec.vital_status,
        death_date=rec.death_date,
    )


class FakeRegistry:
    name = "fake"

    def __init__(self, people: Iterable[RegistryPerson] = ()) -> None:
        self._people: dict[str, RegistryPerson] = {}
        self._legacy: dict[str, str] = {}
        self._ticks: dict[tuple[str, str, str], TickRecord] = {}
        self._enrolments: dict[str, list[Enrolment]] = {}
        self._events: list[ChangeEvent] = []
        self.calls = 0
        for person in people:
            self.add(person)

    # -- test and demo set-up -------------------------------------------------------------
    def add(self, person: RegistryPerson) -> None:
        self._people[person.pid] = person
        for legacy in person.legacy_ids:
            self._legacy[legacy] = person.pid

    def add_enrolment(self, pid: str, enrolment: Enrolment) -> None:
        self._enrolments.setdefault(pid, []).append(enrolment)

    def emit(self, event: ChangeEvent) -> None:
        self._events.append(event)

    @property
    def ticks(self) -> list[TickRecord]:
        return list(self._ticks.values())

    # -- the port ---------------------------------------------------------------------------
    def lookup(self, pid: str) -> RegistryPerson | None:
        self.calls += 1
        return self._people.get(pid)

    def verify(self, requests: Sequence[VerifyRequest]) -> list[VerifyResult]:
        self.calls += 1
        results = []
        for req in requests:
            rec = self._people.get(req.pid)
            results.append(
                VerifyResult(req.ref, False) if rec is None else compare_fields(req, rec)
            )
        return results

    def resolve_legacy(self, legacy_id: str) -> str | None:
        self.calls += 1
        return self._legacy.get(legacy_id)

    def publish_tick(self, tick: TickRecord) -> None:
        self._ticks[(tick.pid, tick.exclusion_group, tick.period)] = tick

    def withdraw_tick(self, tick: TickRecord, reason: str) -> None:
        self._ticks.pop((tick.pid, tick.exclusion_group, tick.period), None)

    def enrolled(self, pid: str) -> list[Enrolment]:
        found = list(self._enrolments.get(pid, []))
        found += [
            Enrolment(t.programme, t.locality, t.period, "ticked", t.exclusion_group)
            for t in self._ticks.values()
            if t.pid == pid
        ]
        return found

    def changes(self, cursor: str | None, limit: int = 500) -> ChangePage:
        start = int(cursor) if cursor else 0
        page = tuple(self._events[start : start + limit])
        return ChangePage(page, str(start + len(page)) if page else cursor)
