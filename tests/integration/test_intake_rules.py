"""Programme rules and screening at intake, from data: allowed pairs, only the highest level,
ticks elsewhere, the registry's enrolled query (when configured); and the officer's workflow
moves, each with actor, reason, role and scope."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import insert, select

from adapters.registry.port import Enrolment
from gateway.bootstrap import build_services
from gateway.db.tables import (
    admin_unit,
    allowed_combination,
    amount_rule,
    audit_event,
    enrollment,
    flag,
    person,
    programme,
    tick,
)
from gateway.errors import Forbidden, InvalidState, NotFound, UpstreamUnavailable, ValidationFailed
from gateway.security.principal import Actor
from gateway.services import accounts, enrollments, intake
from gateway.services.catalogue import load_catalogue
from gateway.services.context import Services
from gateway.settings import Settings, WelfareSettings

SYSTEM = Actor.system("test")
PERIOD = "2026-07"
PEOPLE = {  # personal ID → (name, birth year, gender)
    "A": ("079050000101", "Nguyễn Văn An", "1950", "Nam"),
    "B": ("079151000202", "Trần Thị Bích", "1951", "Nữ"),
    "C": ("079040000303", "Lê Văn Cường", "1940", "Nam"),
}


def _row(key: str, commune: str = "26743", coefficient: str = "") -> dict[str, object]:
    pid, name, born, gender = PEOPLE[key]
    return {
        "source_ref": f"{key}-{commune}",
        "personal_id": pid,
        "full_name": name,
        "birth_date": born,
        "gender": gender,
        "commune_code": commune,
        "coefficient": coefficient,
    }


def _import(svc: Services, code: str, rows: list[dict[str, object]]) -> intake.ImportSummary:
    return intake.import_rows(
        svc,
        SYSTEM,
        source_key=f"test:{code}",
        source_kind="api",
        mapping="canonical",
        programme_code=code,
        period=PERIOD,
        content_hash=intake.content_hash(rows),
        rows=rows,
    )


def _flags(svc: Services, key: str) -> dict[str, set[str]]:
    """Open flags of one person's enrollments, by programme."""
    found: dict[str, set[str]] = {}
    with svc.db.read() as conn:
        for code, kind in conn.execute(
            select(programme.c.code, flag.c.kind)
            .select_from(enrollment)
            .join(programme, programme.c.id == enrollment.c.programme_id)
            .join(person, person.c.id == enrollment.c.person_id)
            .join(flag, flag.c.enrollment_id == enrollment.c.id)
            .where(person.c.full_name == PEOPLE[key][1], flag.c.status == "open")
        ):
            found.setdefault(code, set()).add(kind)
    return found


def _provincial_top_up(svc: Services) -> None:
    """A programme of the monthly-allowance group that a (hypothetical) provincial policy allows
    on top of the Decree 20 allowance: rows in programme, amount_rule, allowed_combination."""
    with svc.db.begin() as conn:
        top_up = conn.execute(
            insert(programme)
            .values(
                code="PROV-HT",
                name_vi="Hỗ trợ thêm của tỉnh",
                name_en="Provincial top-up",
                legal_basis="Nghị quyết HĐND tỉnh (giả định, cho kiểm thử)",
                periodicity="monthly",
                amount_kind="fixed",
                exclusion_group="tcxh-hang-thang",
                valid_from=dt.date(2025, 1, 1),
            )
            .returning(programme.c.id)
        ).scalar_one()
        conn.execute(
            insert(amount_rule).values(
                programme_id=top_up, effective_from=dt.date(2025, 1, 1), fixed_amount=200_000
            )
        )
        tcxh = conn.execute(select(programme.c.id).where(programme.c.code == "ND20-TCXH")).scalar()
        low, high = sorted((int(tcxh), int(top_up)))
        conn.execute(
            insert(allowed_combination).values(
                programme_a=low, programme_b=high, note="allowed together (test policy)"
            )
        )


def _tick(svc: Services, key: str, code: str, commune: str) -> None:
    with svc.db.begin() as conn:
        person_id = conn.execute(
            select(person.c.id).where(person.c.full_name == PEOPLE[key][1])
        ).scalar_one()
        unit_id = conn.execute(
            select(admin_unit.c.id).where(
                admin_unit.c.scheme == "2025-07", admin_unit.c.code == commune
            )
        ).scalar_one()
        conn.execute(
            insert(tick).values(
                person_id=person_id,
                exclusion_group="tcxh-hang-thang",
                period=PERIOD,
                unit_id=unit_id,
                programme_code=code,
                payment_ref=f"ref-{key}-{code}",
                source="local",
                state="active",
                created_at=svc.clock(),
            )
        )


def test_allowed_pairs_and_only_the_highest_level_are_screened_at_intake(
    svc: Services,
) -> None:
    _provincial_top_up(svc)
    with svc.db.read() as conn:
        group = load_catalogue(conn).groups["tcxh-hang-thang"]
    assert group.allows("ND20-TCXH", "PROV-HT") and not group.allows("ND20-TCXH", "ND176-HTXH")
    # the first lists: nobody is flagged yet, there is nothing to compare with
    assert _import(svc, "PROV-HT", [_row("A"), _row("B")]).flagged == 0
    _tick(svc, "B", "PROV-HT", "26740")  # B was paid the top-up in another commune
    # the Decree 176 list names C; C is paid by Decree 176 in another commune already
    assert _import(svc, "ND176-HTXH", [_row("C")]).flagged == 0
    _tick(svc, "C", "ND176-HTXH", "26740")
    # the Decree 20 list names all three, C at coefficient 2 (1,000,000 VND > 500,000)
    summary = _import(svc, "ND20-TCXH", [_row("A"), _row("B"), _row("C", coefficient="2")])
    assert summary.accepted == 3 and summary.flagged == 1
    assert _flags(svc, "A") == {}  # the allowed pair: both kept, no flag
    assert _flags(svc, "B") == {}  # ticked elsewhere, but for the allowed programme
    # C: ticked elsewhere for Decree 176, and the lower Decree 176 claim gives way
    assert _flags(svc, "C") == {
        "ND20-TCXH": {"ticked_elsewhere"},
        "ND176-HTXH": {"exclusive_programme"},
    }
    with svc.db.read() as conn:
        detail = conn.execute(
            select(flag.c.detail).where(flag.c.kind == "exclusive_programme")
        ).scalar_one()
    assert detail["kept_programme"] == "ND20-TCXH" and detail["policy"] == "highest_wins"


@pytest.fixture
def asking(db_url: str, settings: Settings, fakes: dict[str, Any]) -> Iterator[Services]:
    """Services whose intake asks the registry's enrolled query (ANSINH_WELFARE_SCREEN_REGISTRY)."""
    services = build_services(
        settings.with_(database_url=db_url, welfare=WelfareSettings(screen_registry=True)),
        registry=fakes["registry"],
        payments={"bank": fakes["bank"], "postoffice": fakes["post"]},
        welfare=fakes["welfare"],
    )
    yield services
    services.close()


def test_the_registry_is_asked_at_intake_and_the_local_ledger_stays_authoritative(
    asking: Services, fakes: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = fakes["registry"]
    pid_a, pid_b = PEOPLE["A"][0], PEOPLE["B"][0]
    registry.add_enrolment(pid_a, Enrolment("ND176-HTXH", "2025-07:26740", PERIOD, "ticked"))
    first = _import(asking, "ND176-HTXH", [_row("B", commune="26740")])
    assert first.registry == "done"
    _tick(asking, "B", "ND176-HTXH", "26740")  # paid here; the registry echoes our own tick
    registry.add_enrolment(pid_b, Enrolment("ND176-HTXH", "2025-07:26740", PERIOD, "ticked"))
    summary = _import(asking, "ND20-TCXH", [_row("A"), _row("B")])
    assert summary.registry == "done"
    assert _flags(asking, "A") == {"ND20-TCXH": {"enrolled_elsewhere"}}
    # B: our own payment in another commune, known from the local ledger (ticked elsewhere;
    # and at equal amounts the earlier claim is kept) — the registry's echo of it adds nothing
    assert _flags(asking, "B")["ND20-TCXH"] == {"ticked_elsewhere", "exclusive_programme"}

    def down(_pid: str) -> list[Enrolment]:
        raise UpstreamUnavailable("registry down", "CSDL dân cư không phản hồi")

    monkeypatch.setattr(registry, "enrolled", down)
    later = _import(asking, "ND20-NCT80", [_row("C")])
    assert later.status == "done" and later.accepted == 1 and later.registry == "unavailable"


def _officer(svc: Services, name: str, role: str, unit: str, level: str | None = None) -> Actor:
    with svc.db.begin() as conn:
        user_id = accounts.add_user(
            conn,
            SYSTEM,
            username=name,
            display_name=name,
            role=role,
            unit_scheme="2025-07",
            unit_code=unit,
            unit_level=level,
            now=svc.clock(),
        )
        return accounts.actor_for_user(conn, int(user_id))


def test_officer_moves_keep_actor_reason_role_and_scope(svc: Services) -> None:
    _import(svc, "ND20-TCXH", [_row("A")])
    with svc.db.read() as conn:
        eid = int(conn.execute(select(enrollment.c.id)).scalar_one())
    commune = _officer(svc, "xa26743", "commune_officer", "26743")
    province = _officer(svc, "tinh79", "province_officer", "79", "province")
    hanoi = _officer(svc, "tinh01", "province_officer", "01", "province")
    with pytest.raises(Forbidden):
        enrollments.move(svc, commune, eid, "suspended", reason="checking the address")
    with pytest.raises(NotFound):  # another province's record reads as absent
        enrollments.move(svc, hanoi, eid, "suspended", reason="checking the address")
    with pytest.raises(ValidationFailed) as no_reason:
        enrollments.move(svc, province, eid, "suspended", reason="  ")
    assert no_reason.value.problems[0].rule == "reason.required"
    steps = [
        (province, "suspended", "checking the address"),
        (commune, "proposed", "address confirmed by the commune"),
        (province, "rejected", "income above the poverty line"),
        (commune, "proposed", "new income certificate"),
    ]
    for actor, target, reason in steps:
        enrollments.move(svc, actor, eid, target, reason=reason)
    with pytest.raises(InvalidState) as not_verified:  # approval needs a verified record
        enrollments.move(svc, province, eid, "approved", reason="list of July")
    assert not_verified.value.code == "enrollment.state_changed"
    with svc.db.read() as conn:
        history = enrollments.history(conn, eid)
        audited = list(
            conn.execute(
                select(audit_event.c.action).where(audit_event.c.action.like("enrollment.%"))
            ).scalars()
        )
    assert [(h["to"], h["actor"], h["reason"]) for h in history[1:]] == [
        ("suspended", "tinh79 (province_officer)", "checking the address"),
        ("proposed", "xa26743 (commune_officer)", "address confirmed by the commune"),
        ("rejected", "tinh79 (province_officer)", "income above the poverty line"),
        ("proposed", "xa26743 (commune_officer)", "new income certificate"),
    ]
    assert audited == [
        "enrollment.suspended",
        "enrollment.proposed",
        "enrollment.rejected",
        "enrollment.proposed",
    ]


def test_what_the_registry_said_before_it_stopped_answering_is_kept(
    svc: Services, fakes: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.services import screen

    registry = fakes["registry"]
    _import(svc, "ND20-TCXH", [_row("A"), _row("B"), _row("C")])
    for key in ("A", "B", "C"):
        registry.add_enrolment(
            PEOPLE[key][0], Enrolment("ND20-TCXH", "2025-07:26740", PERIOD, "ticked")
        )
    answered = registry.enrolled
    calls: list[str] = []

    def flaky(pid: str) -> list[Enrolment]:
        calls.append(pid)
        if len(calls) > 1:
            raise UpstreamUnavailable("registry down", "CSDL dân cư không phản hồi")
        return answered(pid)

    monkeypatch.setattr(registry, "enrolled", flaky)
    with pytest.raises(UpstreamUnavailable):
        screen.screen(svc, "ND20-TCXH", PERIOD, consult_registry=True)
    flagged = [
        key
        for key in ("A", "B", "C")
        if "enrolled_elsewhere" in _flags(svc, key).get("ND20-TCXH", set())
    ]
    assert len(calls) == 2 and len(flagged) == 1  # the first answer was kept
