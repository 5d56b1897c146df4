"""In-memory registry for unit tests and the demo. Same port, same semantics as the real ones."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace

from adapters.registry import errors
from adapters.registry.port import (
    ChangeEvent,
    ChangePage,
    Enrolment,
    RegistryPerson,
    TickRecord,
    VerifyRequest,
    VerifyResult,
    compare_fields,
)

PID = re.compile(r"^\d{12}$")


class FakeRegistry:
    name = "fake"
    max_batch = 10_000

    def __init__(self, people: Iterable[RegistryPerson] = ()) -> None:
        self._people: dict[str, RegistryPerson] = {}
        self._legacy: dict[str, str] = {}
        self._ticks: dict[tuple[str, str, str], TickRecord] = {}
        self._enrolments: dict[str, list[Enrolment]] = {}
        self._events: list[ChangeEvent] = []
        self._aliases: dict[str, str] = {}  # re-issued ID -> current ID
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
        """Append an event (its cursor is its position) and apply it to the record, as the
        registry would."""
        event = replace(event, cursor=str(len(self._events) + 1))
        self._events.append(event)
        person = self._people.get(event.pid)
        if person is None:
            return
        if event.kind == "death":
            self.add(replace(person, vital_status="deceased", death_date=event.death_date))
        elif event.kind == "reissue" and event.new_pid:
            del self._people[event.pid]
            self.add(replace(person, pid=event.new_pid))
            self._aliases[event.pid] = event.new_pid
        elif event.kind == "move" and event.residence:
            self.add(replace(person, residence=event.residence))

    @property
    def ticks(self) -> list[TickRecord]:
        return list(self._ticks.values())

    # -- the port ---------------------------------------------------------------------------
    def lookup(self, pid: str) -> RegistryPerson | None:
        self.calls += 1
        if not PID.match(pid):
            raise errors.malformed_id()
        return self._people.get(self._aliases.get(pid, pid))

    def verify(self, requests: Sequence[VerifyRequest]) -> list[VerifyResult]:
        self.calls += 1
        results = []
        for req in requests:
            if not PID.match(req.pid):
                results.append(VerifyResult(req.ref, False, error_code=errors.MALFORMED_ID))
                continue
            rec = self._people.get(self._aliases.get(req.pid, req.pid))
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
