"""``ansinh demo``: one whole payment cycle on generated data, then a check of every planted defect.

intake → verify → screen → approve → disburse → confirm → tick → reconcile (ARCHITECTURE.md §1),
through the same services the API and CLI use, against whichever ports the caller hands in (the
in-memory fakes by default; the simulators when ``make run`` starts them).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from adapters.payments.fake import FakeBank, FakePostOffice
from adapters.registry.fake import FakeRegistry
from adapters.registry.port import Enrolment, RegistryPerson, Residence
from adapters.welfare.fake import FakeWelfareSource
from adapters.welfare.port import SourceList
from gateway.db.tables import (
    enrollment,
    flag,
    import_batch,
    mismatch_case,
    payment_instruction,
    person,
    quarantine_row,
    registry_verification,
)
from gateway.domain.dates import BirthDate
from gateway.domain.states import EnrollmentState
from gateway.generate.lists import DEFECTS, GeneratedLists, Truth, build_lists, is_beneficiary
from gateway.generate.population import DEFAULT_PROVINCES, Geography, Person, population
from gateway.security.principal import Actor
from gateway.security.vault import Purpose
from gateway.services import (
    confirm,
    disburse,
    enrollments,
    intake,
    outbox,
    reconcile,
    screen,
    setup,
    units,
    verify,
)
from gateway.services.context import Services
from gateway.services.outbox_handlers import default_handlers

DEFAULT_PERIOD = "2026-07"
Progress = Callable[[str], None]


@dataclass
class World:
    """What the generator produced, and the fakes loaded with it."""

    period: str
    beneficiaries: dict[int, Person]
    lists: GeneratedLists
    registry: FakeRegistry = field(default_factory=FakeRegistry)
    bank: FakeBank = field(default_factory=FakeBank)
    post: FakePostOffice = field(default_factory=FakePostOffice)
    welfare: FakeWelfareSource = field(default_factory=FakeWelfareSource)
    people: int = 0


def registry_person(p: Person) -> RegistryPerson:
    birth = BirthDate(p.birth.year) if p.year_only else BirthDate.of(p.birth)
    return RegistryPerson(
        pid=p.pid,
        full_name=p.full_name,
        birth=birth,
        gender=p.gender,
        vital_status=p.vital,
        death_date=p.death_date,
        residence=Residence("2025-07", p.commune),
        legacy_ids=(p.legacy_id,) if p.legacy_id else (),
    )


def build_world(
    people: int,
    seed: int,
    *,
    period: str = DEFAULT_PERIOD,
    provinces: tuple[str, ...] = DEFAULT_PROVINCES,
) -> World:
    geography = Geography.for_provinces(provinces)
    pick = random.Random(seed + 3)  # noqa: S311 - reproducible synthetic data
    registry = FakeRegistry()
    beneficiaries: dict[int, Person] = {}
    for p in population(people, seed, geography):
        registry.add(registry_person(p))
        if is_beneficiary(p, pick):
            beneficiaries[p.idx] = p
    lists = build_lists(beneficiaries.values(), seed=seed, period=period, geography=geography)
    world = World(period, beneficiaries, lists, registry=registry, people=people)
    for t in lists.registry_ticks:
        registry.add_enrolment(
            t.pid, Enrolment(t.programme, t.locality, t.period, "ticked", t.exclusion_group)
        )
    for account in lists.accounts.values():
        world.bank.open_account(account.bin, account.number, account.holder_name, account.status)
    for key, rows in sorted(lists.lists.items()):
        version = hashlib.sha256(json.dumps(rows, sort_keys=True, ensure_ascii=False).encode())
        world.welfare.offer(
            SourceList(
                key, lists.programmes[key], period, "canonical", "fake", version.hexdigest()
            ),
            rows,
        )
    return world


@dataclass
class DemoReport:
    people: int
    seed: int
    period: str
    database: str
    rows_listed: int = 0
    enrollments: dict[str, int] = field(default_factory=dict)
    flags: dict[str, int] = field(default_factory=dict)
    cases: dict[str, int] = field(default_factory=dict)
    quarantine: dict[str, int] = field(default_factory=dict)
    amounts: dict[str, int] = field(default_factory=dict)
    defects: dict[str, dict[str, int]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(v["found"] == v["expected"] for v in self.defects.values())

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok}


def run_cycle(
    svc: Services, world: World, report: DemoReport, progress: Progress | None = None
) -> None:
    """The eight steps, each through the service layer, each timed."""
    tell = progress or (lambda _step: None)
    system = Actor.system("demo")

    @contextmanager
    def step(name: str) -> Iterator[None]:
        tell(name)
        started = time.perf_counter()
        yield
        report.timings[name] = round(time.perf_counter() - started, 3)

    sources = svc.welfare.lists()
    with step("intake"):
        for source in sources:
            rows = list(svc.welfare.rows(source))
            report.rows_listed += len(rows)
            intake.import_rows(
                svc,
                system,
                source_key=source.key,
                source_kind=source.kind,
                mapping=source.mapping,
                programme_code=source.programme,
                period=source.period,
                content_hash=source.version,
                rows=rows,
            )
    programmes = sorted({s.programme for s in sources})
    with step("verify"):
        verify.verify_pending(svc, system)
    with step("screen"):
        for code in programmes:
            screen.screen(svc, code, world.period, consult_registry=True)
    with step("approve"):
        for officer in setup.province_officers(svc):
            _approve_clean(svc, officer, world.period)
    with step("disburse"):
        for code in programmes:
            made = disburse.create_instructions(svc, system, code, world.period)
            for batch in made.batches:
                disburse.send_batch(svc, system, batch)
    with step("confirm"):
        for channel in ("bank", "postoffice"):
            confirm.fetch_and_apply(svc, channel)
            # callbacks cannot reach a gateway that is not serving yet: ask (txn/status)
            disburse.query_unknown(svc, channel=channel, everything_open=True)
    with step("tick"):
        outbox.dispatch(svc, default_handlers())
    with step("reconcile"):
        reconcile.run(svc)


def _approve_clean(svc: Services, officer: Actor, period: str) -> None:
    """The province officer approves what verified cleanly; flagged records wait for a person."""
    open_flags = select(flag.c.enrollment_id).where(flag.c.status == "open")
    with svc.db.read() as conn:
        ids = list(
            conn.execute(
                select(enrollment.c.id)
                .where(
                    enrollment.c.state == EnrollmentState.VERIFIED,
                    enrollment.c.period == period,
                    enrollment.c.id.not_in(open_flags),
                    units.scope_filter(officer, enrollment.c.unit_id),
                )
                .order_by(enrollment.c.id)
            ).scalars()
        )
    for start in range(0, len(ids), 2000):
        enrollments.approve(
            svc,
            officer,
            ids[start : start + 2000],
            reason="verified against the registry, no flags",
        )


def summarise(svc: Services, world: World, report: DemoReport) -> None:
    with svc.db.read() as conn:
        report.enrollments = dict(
            conn.execute(
                select(enrollment.c.state, func.count()).group_by(enrollment.c.state)
            ).all()
        )
        report.flags = dict(
            conn.execute(select(flag.c.kind, func.count()).group_by(flag.c.kind)).all()
        )
        report.cases = dict(
            conn.execute(
                select(mismatch_case.c.type, func.count())
                .where(mismatch_case.c.status == "open")
                .group_by(mismatch_case.c.type)
            ).all()
        )
        rules: Counter[str] = Counter()
        for (problems,) in conn.execute(select(quarantine_row.c.problems)):
            rules.update(p["rule"] for p in problems)
        report.quarantine = dict(rules)
        report.amounts = {
            "approved_or_paid": int(
                conn.execute(
                    select(func.coalesce(func.sum(enrollment.c.amount), 0)).where(
                        enrollment.c.state.in_(("approved", "paid"))
                    )
                ).scalar_one()
            ),
            "paid": int(
                conn.execute(
                    select(func.coalesce(func.sum(payment_instruction.c.amount), 0)).where(
                        payment_instruction.c.state == "settled"
                    )
                ).scalar_one()
            ),
        }
        checker = DefectChecker(svc, conn, world)
        found = Counter(t.defect for t in world.lists.truth if checker.found(t))
    expected = world.lists.expected()
    report.defects = {d: {"expected": expected[d], "found": found.get(d, 0)} for d in DEFECTS}


class DefectChecker:
    """Did the gateway catch (or correctly absorb) one planted defect?"""

    def __init__(self, svc: Services, conn: Any, world: World) -> None:
        self.svc, self.conn, self.world = svc, conn, world
        self.imports = dict(
            conn.execute(select(import_batch.c.source_key, import_batch.c.id)).all()
        )

    def _enrollment(self, t: Truth) -> Any:
        return self.conn.execute(
            select(
                enrollment,
                person.c.pid_index,
                person.c.birth_year,
                person.c.birth_month,
                person.c.birth_day,
            )
            .join(person, person.c.id == enrollment.c.person_id)
            .where(
                enrollment.c.import_id == self.imports[t.list_key],
                enrollment.c.source_row == t.row_number,
            )
        ).first()

    def _flags(self, enrollment_id: int) -> set[str]:
        return set(
            self.conn.execute(
                select(flag.c.kind).where(flag.c.enrollment_id == enrollment_id)
            ).scalars()
        )

    def _verification(self, enrollment_id: int) -> Any:
        return self.conn.execute(
            select(registry_verification)
            .where(registry_verification.c.enrollment_id == enrollment_id)
            .order_by(registry_verification.c.id.desc())
            .limit(1)
        ).first()

    def _cases(self, enrollment_id: int) -> set[str]:
        return set(
            self.conn.execute(
                select(mismatch_case.c.type).where(mismatch_case.c.enrollment_id == enrollment_id)
            ).scalars()
        )

    def found(self, t: Truth) -> bool:
        person_row = self.world.beneficiaries[t.person_idx]
        if t.defect == "cross_commune_duplicate":
            rules = self.conn.execute(
                select(quarantine_row.c.problems).where(
                    quarantine_row.c.import_id == self.imports[t.list_key],
                    quarantine_row.c.row_number == t.row_number,
                )
            ).scalar()
            return bool(rules) and any(p["rule"] == "enrollment.duplicate" for p in rules)
        if t.defect == "exclusive_programme":
            pid_index = self.svc.vault.index(t.pid, Purpose.PID)
            kinds = list(
                self.conn.execute(
                    select(flag.c.kind)
                    .join(enrollment, enrollment.c.id == flag.c.enrollment_id)
                    .join(person, person.c.id == enrollment.c.person_id)
                    .where(person.c.pid_index == pid_index, flag.c.kind == "exclusive_programme")
                ).scalars()
            )
            return len(kinds) == 1
        row = self._enrollment(t)
        if row is None:
            return False
        flags = self._flags(row.id)
        verification = self._verification(row.id)
        fields = verification.fields if verification is not None else {}
        checks: dict[str, Callable[[], bool]] = {
            "nfd_name": lambda: (
                verification is not None
                and verification.outcome == "match"
                and fields.get("name_match") == "exact"
            ),
            "ascii_upper_name": lambda: (
                verification is not None
                and verification.outcome == "match"
                and fields.get("name_match") == "diacritics"
            ),
            "ddmmyyyy_date": lambda: (
                (row.birth_year, row.birth_month, row.birth_day)
                == (person_row.birth.year, person_row.birth.month, person_row.birth.day)
            ),
            "legacy_id_only": lambda: row.pid_index == self.svc.vault.index(t.pid, Purpose.PID),
            "pid_birth_mismatch": lambda: "pid_inconsistent" in flags,
            "unknown_id": lambda: "not_found" in flags,
            "deceased": lambda: "deceased" in flags and row.state != EnrollmentState.PAID,
            "moved_across_merger": lambda: (
                self._unit_code(row.unit_id) == ("2025-07", person_row.commune)
            ),
            "ticked_elsewhere": lambda: (
                bool({"enrolled_elsewhere", "ticked_elsewhere"} & flags)
                and row.state != EnrollmentState.PAID
            ),
            "account_name_mismatch": lambda: (
                "account_name_mismatch" in flags and "account_name_mismatch" in self._cases(row.id)
            ),
            "closed_account": lambda: (
                "returned_payment" in self._cases(row.id) and row.state != EnrollmentState.PAID
            ),
        }
        return checks[t.defect]()

    def _unit_code(self, unit_id: int) -> tuple[str, str]:
        unit = units.get(self.conn, unit_id)
        return unit.scheme, unit.code


def run_demo(
    svc: Services, world: World, *, seed: int, progress: Progress | None = None
) -> DemoReport:
    report = DemoReport(world.people, seed, world.period, svc.db.engine.dialect.name)
    started = time.perf_counter()
    with _timed(report, "setup", progress):
        setup.prepare_database(svc)
        setup.demo_officers(svc, sorted({p.commune for p in world.beneficiaries.values()}))
    run_cycle(svc, world, report, progress)
    summarise(svc, world, report)
    report.timings["total"] = round(time.perf_counter() - started, 3)
    return report


@contextmanager
def _timed(report: DemoReport, name: str, progress: Progress | None) -> Iterator[None]:
    if progress:
        progress(name)
    started = time.perf_counter()
    yield
    report.timings[name] = round(time.perf_counter() - started, 3)
