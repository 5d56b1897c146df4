"""One contract for the registry port, run against the in-memory fake, the SOAP adapter talking
to the simulator, and the REST adapter talking to the simulator — both over real HTTP on
loopback. A fake that drifts from the real adapters fails here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.registry import errors
from adapters.registry.port import FieldOutcome, RegistryPort, TickRecord, VerifyRequest
from gateway.domain.dates import BirthDate
from gateway.domain.names import NameMatch
from gateway.errors import GatewayError
from tests.registry_support import (
    AN,
    BINH,
    CUONG,
    DAO,
    EM,
    ENROLMENT,
    UNKNOWN_PID,
    Seeded,
    make_simulator,
    rest_registry,
    running,
    seeded_fake,
    soap_registry,
)


@pytest.fixture(params=["fake", "soap", "rest", "rest-async"])
def seeded(
    request: pytest.FixtureRequest, tmp_path: Path, registry_certs: Path
) -> Iterator[Seeded]:
    if request.param == "fake":
        yield Seeded("fake", seeded_fake())
        return
    app = make_simulator(tmp_path, registry_certs)
    with running(app) as sim:
        if request.param == "soap":
            registry = soap_registry(sim)
        else:
            registry = rest_registry(
                sim, registry_certs, async_search=request.param == "rest-async"
            )
        yield Seeded(request.param, registry, app, sim)


def test_satisfies_the_port(seeded: Seeded) -> None:
    assert isinstance(seeded.registry, RegistryPort)
    assert seeded.registry.max_batch >= 1


def test_lookup_returns_the_whole_record(seeded: Seeded) -> None:
    found = seeded.registry.lookup(AN.pid)
    assert found == AN
    assert seeded.registry.lookup(CUONG.pid).death_date == dt.date(2026, 5, 2)
    assert seeded.registry.lookup(BINH.pid).birth == BirthDate(1951)  # year-only stays year-only


def test_lookup_of_an_unknown_id_is_none(seeded: Seeded) -> None:
    assert seeded.registry.lookup(UNKNOWN_PID) is None


def test_lookup_of_a_malformed_id_is_refused_with_its_code(seeded: Seeded) -> None:
    with pytest.raises(GatewayError) as caught:
        seeded.registry.lookup("07905000010")
    assert caught.value.code == errors.MALFORMED_ID


def test_verify_compares_every_field_and_keeps_order(seeded: Seeded) -> None:
    asks = [
        VerifyRequest("exact", AN.pid, "Nguyễn Văn An", BirthDate(1950, 3, 4), "M"),
        VerifyRequest("bank", AN.pid, "NGUYEN VAN AN", BirthDate(1950, 3, 4), "M"),
        VerifyRequest("order", AN.pid, "Văn An Nguyễn", BirthDate(1950, 3, 4), "M"),
        VerifyRequest("year", BINH.pid, "Lê Thị Bình", BirthDate(1951, 8, 9), "F"),
        VerifyRequest("gender", DAO.pid, "Phạm Thị Đào", BirthDate(1962, 7, 7), "M"),
        VerifyRequest("dead", CUONG.pid, "Trần Đức Cường", None, None),
        VerifyRequest("unknown", UNKNOWN_PID, "Ai Đó", None, None),
        VerifyRequest("malformed", "12345", "Ai Đó", None, None),
    ]
    results = seeded.registry.verify(asks)
    by_ref = {r.ref: r for r in results}
    assert [r.ref for r in results] == [a.ref for a in asks]
    assert by_ref["exact"].name_match == NameMatch.EXACT
    assert set(by_ref["exact"].fields.values()) == {FieldOutcome.MATCH}
    assert by_ref["bank"].name_match == NameMatch.DIACRITICS
    assert by_ref["bank"].fields["name"] == FieldOutcome.MATCH
    assert by_ref["order"].name_match == NameMatch.TOKEN_ORDER
    assert by_ref["order"].fields["name"] == FieldOutcome.MISMATCH
    assert by_ref["year"].fields["birth_date"] == FieldOutcome.MATCH
    assert by_ref["gender"].fields["gender"] == FieldOutcome.MISMATCH
    assert by_ref["gender"].fields["id_digits"] == FieldOutcome.MISMATCH  # digit 4 says female
    dead = by_ref["dead"]
    assert (dead.found, dead.vital_status, dead.death_date) == (
        True,
        "deceased",
        dt.date(2026, 5, 2),
    )
    assert dead.fields["birth_date"] == FieldOutcome.MISSING
    assert (by_ref["unknown"].found, by_ref["unknown"].error_code) == (False, None)
    assert by_ref["malformed"].error_code == errors.MALFORMED_ID


def test_verify_more_persons_than_one_call_carries(seeded: Seeded) -> None:
    asks = [
        VerifyRequest(str(i), EM.pid if i % 2 else UNKNOWN_PID, "Hoàng Văn Em") for i in range(520)
    ]
    results = seeded.registry.verify(asks)
    assert [r.ref for r in results] == [str(i) for i in range(520)]
    assert sum(r.found for r in results) == 260


def test_legacy_cmnd_resolves_only_through_the_registry(seeded: Seeded) -> None:
    assert seeded.registry.resolve_legacy("123456789") == AN.pid
    assert seeded.registry.resolve_legacy("987654321") is None


def test_ticks_are_idempotent_and_visible_as_enrolments(seeded: Seeded) -> None:
    tick = TickRecord(EM.pid, "tcxh-hang-thang", "2026-07", "2025-07:26734", "ND20-TCXH", "PAY-1")
    seeded.registry.publish_tick(tick)
    seeded.registry.publish_tick(tick)  # a retried delivery
    ticked = [e for e in seeded.registry.enrolled(EM.pid) if e.status == "ticked"]
    assert [(e.programme, e.locality, e.period, e.exclusion_group) for e in ticked] == [
        ("ND20-TCXH", "2025-07:26734", "2026-07", "tcxh-hang-thang")
    ]
    seeded.registry.withdraw_tick(tick, "payment returned")
    assert [e for e in seeded.registry.enrolled(EM.pid) if e.status == "ticked"] == []


def test_enrolled_answers_the_ibr_question(seeded: Seeded) -> None:
    assert seeded.registry.enrolled(DAO.pid) == [ENROLMENT]
    assert seeded.registry.enrolled(BINH.pid) == []


def test_change_feed_pages_from_a_cursor_and_events_take_effect(seeded: Seeded) -> None:
    assert seeded.registry.changes(None).events == ()
    seeded.emit("death", AN.pid, death_date="2026-07-03")
    seeded.emit("reissue", BINH.pid, new_pid="001151999999")
    seeded.emit("move", DAO.pid, commune="00004")
    first = seeded.registry.changes(None, limit=2)
    assert [e.kind for e in first.events] == ["death", "reissue"]
    assert first.events[0].death_date == dt.date(2026, 7, 3)
    assert first.events[1].new_pid == "001151999999"
    rest = seeded.registry.changes(first.next_cursor, limit=2)
    assert [(e.kind, e.pid, e.residence.commune_code) for e in rest.events] == [
        ("move", DAO.pid, "00004")
    ]
    assert seeded.registry.changes(rest.next_cursor).events == ()
    assert seeded.registry.lookup(AN.pid).vital_status == "deceased"
    assert seeded.registry.lookup("001151999999").full_name == "Lê Thị Bình"
    assert seeded.registry.lookup(BINH.pid).pid == "001151999999"  # the old number still finds her
