"""Statistics snapshots on SQLite and PostgreSQL: figures per commune computed by hand, roll-ups
that add up, a same-day re-run that replaces, scope on read, the CLI and the API."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, insert, select

from gateway.cli import main
from gateway.db.tables import (
    admin_unit,
    enrollment,
    mismatch_case,
    payee_account,
    payment_instruction,
    person,
    programme,
    registry_verification,
    stats_snapshot,
    stats_snapshot_case,
)
from gateway.db.tables.stats import MEASURES
from gateway.domain.states import Role
from gateway.errors import Forbidden
from gateway.refdata.admin_units import CURRENT, LEGACY
from gateway.security.principal import Actor
from gateway.services import lookup, stats
from gateway.services.context import Services
from schedules.spec import discover
from tests.e2e.seed import user_bearer

NOW = dt.datetime(2026, 8, 20, 1, 0, tzinfo=dt.UTC)
SYSTEM = Actor.system("test-stats")
K = 1_000
CASE_KEYS = itertools.count(1)


@dataclass
class Scenario:
    units: dict[str, Any] = field(default_factory=dict)  # name -> admin_unit row
    programmes: dict[str, int] = field(default_factory=dict)
    persons: int = 0
    instructions: int = 0


def _unit(conn: Any, scheme: str, level: str, code: str) -> Any:
    return conn.execute(
        select(admin_unit).where(
            admin_unit.c.scheme == scheme, admin_unit.c.level == level, admin_unit.c.code == code
        )
    ).one()


def _communes(conn: Any, scheme: str, province: str, n: int) -> list[Any]:
    return list(
        conn.execute(
            select(admin_unit)
            .where(
                admin_unit.c.scheme == scheme,
                admin_unit.c.level == "commune",
                admin_unit.c.province_code == province,
            )
            .order_by(admin_unit.c.code)
            .limit(n)
        )
    )


def _person(conn: Any, sc: Scenario, vital: str = "alive", checks: tuple[str, ...] = ()) -> int:
    sc.persons += 1
    pid = conn.execute(
        insert(person)
        .values(
            pid_index=sc.persons.to_bytes(16, "big"),
            full_name=f"Người {sc.persons}",
            name_key=f"nguoi {sc.persons}",
            vital_status=vital,
            created_at=NOW,
        )
        .returning(person.c.id)
    ).scalar_one()
    for i, outcome in enumerate(checks):  # in order: the last one is the latest answer
        conn.execute(
            insert(registry_verification).values(
                person_id=pid,
                outcome=outcome,
                fields={},
                source="test",
                checked_at=NOW - dt.timedelta(days=len(checks) - i),
            )
        )
    return pid


def _account(conn: Any, person_id: int, status: str) -> int:
    return conn.execute(
        insert(payee_account)
        .values(
            person_id=person_id,
            bin="970436",
            number_index=person_id.to_bytes(16, "big"),
            number_enc=b"x",
            status=status,
            created_at=NOW,
        )
        .returning(payee_account.c.id)
    ).scalar_one()


def _enrol(
    conn: Any,
    sc: Scenario,
    unit: str,
    prog: str,
    period: str,
    person_id: int,
    state: str,
    channel: str,
    amount: int,
    *,
    account: int | None = None,
    settled_via: str | None = None,
) -> int:
    eid = conn.execute(
        insert(enrollment)
        .values(
            programme_id=sc.programmes[prog],
            period=period,
            person_id=person_id,
            unit_id=sc.units[unit].id,
            amount=amount,
            state=state,
            channel=channel,
            payee_account_id=account,
            created_at=NOW,
        )
        .returning(enrollment.c.id)
    ).scalar_one()
    if settled_via:
        sc.instructions += 1
        conn.execute(
            insert(payment_instruction).values(
                enrollment_id=eid,
                attempt=1,
                idempotency_key=f"k{eid}",
                reference=f"R{eid}",
                channel=settled_via,
                amount=amount,
                state="settled",
                created_at=NOW,
            )
        )
    return eid


def _case(
    conn: Any,
    sc: Scenario,
    kind: str,
    unit: str | None,
    prog: str | None,
    period: str | None,
    status: str = "open",
) -> None:
    conn.execute(
        insert(mismatch_case).values(
            type=kind,
            dedup_key=f"{kind}:{next(CASE_KEYS)}",
            status=status,
            unit_id=sc.units[unit].id if unit else None,
            programme_id=sc.programmes[prog] if prog else None,
            period=period,
            evidence={},
            opened_at=NOW,
        )
    )


@pytest.fixture
def scenario(svc: Services) -> Scenario:
    """Communes A and B of Hồ Chí Minh City and C of Hà Nội (2025 scheme), and one legacy
    commune L of the old Hồ Chí Minh City, with enrollments whose figures are written out by
    hand in the tests below."""
    sc = Scenario()
    with svc.db.begin() as conn:
        a, b = _communes(conn, CURRENT, "79", 2)
        (c,) = _communes(conn, CURRENT, "01", 1)
        (legacy,) = _communes(conn, LEGACY, "79", 1)
        sc.units = {"A": a, "B": b, "C": c, "L": legacy}
        sc.units["HCM"] = _unit(conn, CURRENT, "province", "79")
        sc.units["HN"] = _unit(conn, CURRENT, "province", "01")
        sc.units["HCM-old"] = _unit(conn, LEGACY, "province", "79")
        sc.units["D"] = conn.execute(
            select(admin_unit).where(admin_unit.c.id == legacy.parent_id)
        ).one()
        sc.programmes = {
            code: conn.execute(select(programme.c.id).where(programme.c.code == code)).scalar_one()
            for code in ("ND20-TCXH", "ND20-NCT80")
        }
        P1, P2 = "ND20-TCXH", "ND20-NCT80"
        p1 = _person(conn, sc, checks=("match",))
        acc1 = _account(conn, p1, "verified")
        p2 = _person(conn, sc, checks=("mismatch", "match"))  # corrected
        p3 = _person(conn, sc, checks=("match", "mismatch"))  # unmatched now
        p4 = _person(conn, sc)  # never checked
        p5 = _person(conn, sc, vital="deceased", checks=("match",))  # death from the feed
        acc5 = _account(conn, p5, "unverified")
        p6 = _person(conn, sc, checks=("not_found",))
        p7 = _person(conn, sc, checks=("match",))
        p8 = _person(conn, sc, checks=("error",))
        p9 = _person(conn, sc, checks=("deceased",))
        acc9 = _account(conn, p9, "verified")
        p10 = _person(conn, sc, checks=("not_found", "match"))
        # commune A
        _enrol(
            conn,
            sc,
            "A",
            P1,
            "2026-07",
            p1,
            "paid",
            "bank",
            500 * K,
            account=acc1,
            settled_via="bank",
        )
        _enrol(
            conn, sc, "A", P1, "2026-07", p2, "paid", "bank", 500 * K, settled_via="postoffice"
        )  # the bank returned it; re-issued in cash
        _enrol(conn, sc, "A", P1, "2026-07", p3, "approved", "postoffice", 500 * K)
        _enrol(conn, sc, "A", P1, "2026-07", p4, "proposed", "bank", 500 * K)
        _enrol(conn, sc, "A", P1, "2026-07", p5, "approved", "bank", 750 * K, account=acc5)
        _enrol(conn, sc, "A", P1, "2026-08", p1, "approved", "bank", 500 * K, account=acc1)
        _enrol(conn, sc, "A", P2, "2026-07", p6, "cancelled", "postoffice", 1000 * K)
        # commune B
        _enrol(
            conn,
            sc,
            "B",
            P1,
            "2026-07",
            p7,
            "paid",
            "postoffice",
            500 * K,
            settled_via="postoffice",
        )
        _enrol(conn, sc, "B", P1, "2026-07", p8, "rejected", "postoffice", 500 * K)
        # commune C (Hà Nội)
        _enrol(conn, sc, "C", P2, "2026-07", p9, "approved", "bank", 1000 * K, account=acc9)
        # legacy commune L, kept on its old code (a split awaiting a decision)
        _enrol(conn, sc, "L", P1, "2026-07", p10, "suspended", "postoffice", 500 * K)
        _case(conn, sc, "approved_unpaid", "A", P1, "2026-07")
        _case(conn, sc, "approved_unpaid", "A", P1, "2026-07")
        _case(conn, sc, "approved_unpaid", "A", P1, "2026-07", status="resolved")
        _case(conn, sc, "deceased", "C", P2, "2026-07")
        _case(conn, sc, "amount_mismatch", "L", P1, "2026-07")
        _case(conn, sc, "unknown_reference", None, None, None)
    return sc


def _zero(**figures: int) -> dict[str, int]:
    return dict.fromkeys(MEASURES, 0) | figures


COMMUNE_A_P1_JULY = _zero(
    records=5,
    proposed=1,
    approved=4,
    approved_amount=2_250 * K,
    paid=2,
    paid_amount=1_000 * K,
    unpaid=2,
    unpaid_amount=1_250 * K,
    bank=3,
    bank_amount=1_750 * K,
    postoffice=1,
    postoffice_amount=500 * K,
    paid_account=1,
    paid_account_amount=500 * K,
    paid_cash=1,
    paid_cash_amount=500 * K,
    account_verified=1,
    reg_matched=2,
    reg_corrected=1,
    reg_unmatched=1,
    reg_deceased=1,
    reg_unchecked=1,
)
COMMUNE_A_ALL = _zero(
    records=7,
    proposed=1,
    cancelled=1,
    approved=5,
    approved_amount=2_750 * K,
    paid=2,
    paid_amount=1_000 * K,
    unpaid=3,
    unpaid_amount=1_750 * K,
    bank=4,
    bank_amount=2_250 * K,
    postoffice=1,
    postoffice_amount=500 * K,
    paid_account=1,
    paid_account_amount=500 * K,
    paid_cash=1,
    paid_cash_amount=500 * K,
    account_verified=2,
    reg_matched=3,
    reg_corrected=1,
    reg_unmatched=2,
    reg_deceased=1,
    reg_unchecked=1,
)
COMMUNE_B_ALL = _zero(
    records=2,
    rejected=1,
    approved=1,
    approved_amount=500 * K,
    paid=1,
    paid_amount=500 * K,
    postoffice=1,
    postoffice_amount=500 * K,
    paid_cash=1,
    paid_cash_amount=500 * K,
    reg_matched=1,
    reg_unchecked=1,
)
COMMUNE_C_ALL = _zero(
    records=1,
    approved=1,
    approved_amount=1_000 * K,
    unpaid=1,
    unpaid_amount=1_000 * K,
    bank=1,
    bank_amount=1_000 * K,
    account_verified=1,
    reg_deceased=1,
)
COMMUNE_L_ALL = _zero(records=1, suspended=1, reg_matched=1, reg_corrected=1)


def _read(svc: Services, unit: Any = None, actor: Actor = SYSTEM, **kw: Any) -> stats.StatsView:
    with svc.db.read() as conn:
        view = stats.read(conn, actor, unit.id if unit is not None else None, **kw)
    assert view is not None
    return view


def _add(*figures: dict[str, int]) -> dict[str, int]:
    return {m: sum(f[m] for f in figures) for m in MEASURES}


def test_commune_figures_are_what_a_person_counts_by_hand(
    svc: Services, scenario: Scenario
) -> None:
    counts = stats.snapshot(svc, NOW)
    assert counts["day"] == "2026-08-20" and counts["base_rows"] == 6
    u, p1 = scenario.units, scenario.programmes["ND20-TCXH"]
    assert _read(svc, u["A"], programme_id=p1, period="2026-07").figures == COMMUNE_A_P1_JULY
    assert _read(svc, u["A"]).figures == COMMUNE_A_ALL
    assert _read(svc, u["B"]).figures == COMMUNE_B_ALL
    assert _read(svc, u["C"]).figures == COMMUNE_C_ALL
    assert _read(svc, u["L"]).figures == COMMUNE_L_ALL
    august = _read(svc, u["A"], period="2026-08").figures
    assert (august["approved"], august["unpaid_amount"], august["account_verified"]) == (
        1,
        500 * K,
        1,
    )
    a = _read(svc, u["A"])
    assert a.open_cases == {"approved_unpaid": 2}  # the resolved one is not open
    assert a.as_of == NOW and a.day == NOW.date() and a.breakdown == []


def test_roll_ups_add_up_to_the_province_and_the_country(svc: Services, scenario: Scenario) -> None:
    stats.snapshot(svc, NOW)
    u = scenario.units
    hcm = _read(svc, u["HCM"])
    assert hcm.figures == _add(COMMUNE_A_ALL, COMMUNE_B_ALL)
    assert {a.unit_id: a.figures for a in hcm.breakdown} == {
        u["A"].id: COMMUNE_A_ALL,
        u["B"].id: COMMUNE_B_ALL,
    }
    old = _read(svc, u["HCM-old"])  # legacy: province → district → commune
    assert old.figures == COMMUNE_L_ALL and [a.unit_id for a in old.breakdown] == [u["D"].id]
    district = _read(svc, u["D"])
    assert district.figures == COMMUNE_L_ALL and [a.unit_id for a in district.breakdown] == [
        u["L"].id
    ]
    country = _read(svc)
    assert country.unit is None
    assert country.figures == _add(COMMUNE_A_ALL, COMMUNE_B_ALL, COMMUNE_C_ALL, COMMUNE_L_ALL)
    assert country.figures == _add(*(a.figures for a in country.breakdown))
    assert [a.unit_id for a in country.breakdown] == [u["HN"].id, u["HCM"].id, u["HCM-old"].id]
    assert country.open_cases == {
        "approved_unpaid": 2,
        "amount_mismatch": 1,
        "deceased": 1,
        "unknown_reference": 1,  # names no unit: counted for the country only
    }
    assert _read(svc, u["HCM-old"]).open_cases == {"amount_mismatch": 1}
    p1, p2 = scenario.programmes["ND20-TCXH"], scenario.programmes["ND20-NCT80"]
    by_programme = [_read(svc, programme_id=p).figures for p in (p1, p2)]
    assert _add(*by_programme) == country.figures
    july, august = (_read(svc, period=p).figures for p in ("2026-07", "2026-08"))
    assert _add(july, august) == country.figures
    assert _read(svc, programme_id=p2).open_cases == {"deceased": 1}


def test_a_rerun_the_same_day_replaces_and_another_day_is_kept(
    svc: Services, scenario: Scenario
) -> None:
    first = stats.snapshot(svc, NOW)
    with svc.db.begin() as conn:  # commune B's rejected record comes back approved
        conn.execute(
            enrollment.update()
            .where(enrollment.c.unit_id == scenario.units["B"].id, enrollment.c.state == "rejected")
            .values(state="approved")
        )
    later = NOW + dt.timedelta(hours=3)
    again = stats.snapshot(svc, later)
    assert (
        again["rows"] == first["rows"]
        and again["replaced_rows"] == first["rows"] + first["case_rows"]
    )
    with svc.db.read() as conn:
        per_day = conn.execute(select(func.count()).select_from(stats_snapshot)).scalar_one()
        cases = conn.execute(select(func.count()).select_from(stats_snapshot_case)).scalar_one()
    assert (per_day, cases) == (first["rows"], first["case_rows"])
    b = _read(svc, scenario.units["B"])
    assert (b.figures["rejected"], b.figures["unpaid"], b.as_of) == (0, 1, later)
    stats.snapshot(svc, NOW + dt.timedelta(days=1))
    with svc.db.read() as conn:
        days = conn.execute(select(func.count(func.distinct(stats_snapshot.c.day)))).scalar_one()
    assert days == 2
    old = _read(svc, scenario.units["B"], as_of=NOW.date())
    assert old.day == NOW.date() and old.figures["unpaid"] == 1


def test_nothing_to_read_before_the_first_snapshot_and_zero_for_an_empty_unit(
    svc: Services, scenario: Scenario
) -> None:
    with svc.db.read() as conn:
        assert stats.read(conn, SYSTEM) is None
    stats.snapshot(svc, NOW)
    with svc.db.read() as conn:
        empty = conn.execute(
            select(admin_unit.c.id).where(
                admin_unit.c.scheme == CURRENT,
                admin_unit.c.level == "province",
                admin_unit.c.code == "48",
            )
        ).scalar_one()
        view = stats.read(conn, SYSTEM, empty)
    assert view is not None and view.figures == _zero() and view.breakdown == []


def _officer(svc: Services, role: Role, unit: Any) -> Actor:
    return Actor("o", role, unit.id, unit.path, unit.scheme)


def test_scope_is_enforced_on_read(svc: Services, scenario: Scenario) -> None:
    stats.snapshot(svc, NOW)
    u = scenario.units
    province = _officer(svc, Role.PROVINCE, u["HCM"])
    own = _read(svc, actor=province)  # no unit given: the officer's own province
    assert own.unit is not None and own.unit.id == u["HCM"].id
    assert _read(svc, u["A"], actor=province).figures == COMMUNE_A_ALL
    commune = _officer(svc, Role.COMMUNE, u["B"])
    with svc.db.read() as conn:
        with pytest.raises(Forbidden):
            stats.read(conn, province, u["C"].id)
        with pytest.raises(Forbidden):
            stats.read(conn, commune, u["A"].id)
        with pytest.raises(Forbidden):
            stats.read(conn, commune, u["HCM"].id)
    assert _read(svc, actor=commune).figures == COMMUNE_B_ALL


def test_cli_snapshot_and_show(
    svc: Services, scenario: Scenario, db_url: str, tmp_path: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("ANSINH_DATABASE_URL", db_url)
    monkeypatch.setenv("ANSINH_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    taken = runner.invoke(main, ["stats", "snapshot", "--json"])
    assert taken.exit_code == 0, taken.output
    assert json.loads(taken.output.strip().splitlines()[-1])["base_rows"] == 6
    code = scenario.units["A"].code
    shown = runner.invoke(main, ["stats", "show", "--unit", code, "--json"])
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.output.strip().splitlines()[-1])
    assert body["figures"] == COMMUNE_A_ALL and body["campaign"]["reg_corrected"] == 1
    table = runner.invoke(main, ["stats", "show", "--unit", "79", "--programme", "ND20-TCXH"])
    assert table.exit_code == 0 and scenario.units["A"].name in table.output
    bad = runner.invoke(main, ["stats", "show", "--unit", "99999"])
    assert bad.exit_code != 0 and "unit" in bad.output


def test_api_answers_from_the_snapshot_within_scope(
    client: Any, svc: Services, scenario: Scenario
) -> None:
    province = user_bearer(svc, "tinh79", "province_officer", "79", "province")
    assert client.get("/api/v1/stats", headers=province).status_code == 404  # none taken yet
    jobs = discover()
    counts = jobs["stats.snapshot"].fn(svc)
    assert counts["base_rows"] == 6 and jobs["stats.snapshot"].cron == "30 0 * * *"
    own = client.get("/api/v1/stats", headers=province)
    assert own.status_code == 200, own.get_json()
    body = own.get_json()
    assert body["unit"]["code"] == "79" and body["figures"] == _add(COMMUNE_A_ALL, COMMUNE_B_ALL)
    assert body["campaign"]["reg_matched"] == 4 and body["as_of"]
    assert {a["code"] for a in body["breakdown"]} == {
        scenario.units["A"].code,
        scenario.units["B"].code,
    }
    a = client.get(
        f"/api/v1/stats?unit={scenario.units['A'].code}&programme=ND20-TCXH&period=2026-07",
        headers=province,
    )
    assert a.status_code == 200 and a.get_json()["figures"] == COMMUNE_A_P1_JULY
    assert a.get_json()["open_cases"] == {"approved_unpaid": 2}
    other = client.get(f"/api/v1/stats?unit={scenario.units['C'].code}", headers=province)
    assert other.status_code == 403 and other.get_json()["code"] == "scope.outside"
    bad = client.get("/api/v1/stats?programme=NOPE&period=2026-13", headers=province)
    assert bad.status_code == 422
    assert client.get("/api/v1/stats").status_code == 401
    ministry = user_bearer(svc, "bo", "ministry_officer", None, None)
    country = client.get("/api/v1/stats", headers=ministry).get_json()
    assert country["unit"] is None and country["open_cases"]["unknown_reference"] == 1


def test_public_commune_figures_are_the_same_from_the_snapshot(
    client: Any, svc: Services, scenario: Scenario
) -> None:
    svc.settings = svc.settings.with_(web=dataclasses.replace(svc.settings.web, public_min_count=2))
    live = lookup.commune_statistics(svc, "79", None, None)
    live_p1 = lookup.commune_statistics(svc, "79", "ND20-TCXH", "2026-07")
    assert lookup.statistics_as_of(svc) is None
    stats.snapshot(svc, NOW)
    assert lookup.statistics_as_of(svc) == NOW
    assert lookup.commune_statistics(svc, "79", None, None) == live
    assert lookup.commune_statistics(svc, "79", "ND20-TCXH", "2026-07") == live_p1
    by_code = {f.code: f for f in live}
    a, b = by_code[scenario.units["A"].code], by_code[scenario.units["B"].code]
    assert (a.beneficiaries, a.paid, a.paid_amount) == (5, 2, 1_000 * K)
    assert (b.beneficiaries, b.paid, b.paid_amount) == (None, None, None)  # 1 < 2: hidden
    assert lookup.commune_statistics(svc, "79", "NOPE", None) == []
    page = client.get("/cong-khai/thong-ke?province=79").get_data(as_text=True)
    assert 'id="freshness"' in page and scenario.units["A"].name in page


def test_a_snapshot_of_an_empty_database_says_when_it_was_taken(svc: Services) -> None:
    counts = stats.snapshot(svc, NOW)
    assert (counts["base_rows"], counts["rows"], counts["case_rows"]) == (0, 1, 0)
    country = _read(svc)
    assert country.figures == _zero() and country.as_of == NOW and country.breakdown == []


def test_old_days_are_pruned_but_each_months_last_snapshot_is_kept(
    svc: Services, scenario: Scenario
) -> None:
    today = NOW.date()
    kept_recent = NOW - dt.timedelta(days=3)  # inside the window: kept, month-end or not
    old = [
        dt.datetime(2024, 1, 10, 2, tzinfo=dt.UTC),  # January's earlier day: pruned
        dt.datetime(2024, 1, 20, 2, tzinfo=dt.UTC),  # January's last snapshot: kept
        dt.datetime(2024, 2, 5, 2, tzinfo=dt.UTC),  # February's only one: kept
    ]
    svc.settings = _keep(svc, 0)
    for at in [*old, kept_recent]:
        stats.snapshot(svc, at)

    def days() -> list[dt.date]:
        with svc.db.read() as conn:
            found = conn.execute(select(stats_snapshot.c.day).distinct()).scalars()
            cases = conn.execute(select(stats_snapshot_case.c.day).distinct()).scalars()
            case_days = {_day(d) for d in cases}
            all_days = sorted(_day(d) for d in found)
        assert case_days <= set(all_days)  # the case rows go with their day
        return all_days

    assert len(days()) == 4  # keep_days 0 kept every day
    svc.settings = _keep(svc, 30)
    counts = stats.snapshot(svc, NOW)
    assert counts["pruned_days"] == 1
    assert days() == [dt.date(2024, 1, 20), dt.date(2024, 2, 5), kept_recent.date(), today]
    with svc.db.read() as conn:  # a kept month-end still reads
        view = stats.read(conn, SYSTEM, as_of=dt.date(2024, 1, 31))
    assert view is not None and view.day == dt.date(2024, 1, 20)


def _keep(svc: Services, days: int) -> Any:
    return svc.settings.with_(web=dataclasses.replace(svc.settings.web, stats_keep_days=days))


def _day(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
