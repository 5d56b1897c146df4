"""Intake: canonical rows become persons and proposed enrollments, or quarantined rows.

Nothing is dropped: a row either becomes an enrollment or is kept in quarantine with every problem
found in it (field, rule, masked value, Vietnamese and English), to be corrected and replayed.
An import is one transaction: a crash leaves nothing half-written, and the same content for the
same source is imported once.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select, update

from gateway.db.dialect import insert_ignore
from gateway.db.tables import (
    enrollment,
    enrollment_transition,
    flag,
    import_batch,
    payee_account,
    programme,
    quarantine_row,
)
from gateway.domain.dates import BirthDate, parse_birth_date
from gateway.domain.personal_id import cross_check, mask, parse_legacy_id, parse_personal_id
from gateway.domain.states import EnrollmentState, FlagKind
from gateway.errors import FieldProblem, ValidationFailed, problem
from gateway.security.principal import Actor
from gateway.security.vault import PiiVault, Purpose
from gateway.services import audit, people, units
from gateway.services.catalogue import Catalogue, load_catalogue
from gateway.services.context import Services
from mappings import converters

QUARANTINE_PURPOSE = b"quarantine"
MASKED_FIELDS = frozenset({"personal_id", "legacy_id", "account_number", "phone"})


@dataclass
class ValidRow:
    row_number: int
    source_ref: str | None
    pid: str | None
    legacy_id: str | None
    full_name: str
    birth: BirthDate
    gender: str | None
    unit: units.Translation
    coefficient_milli: int | None
    channel: str
    bank_bin: str | None
    account_number: str | None
    warnings: list[FieldProblem] = field(default_factory=list)


@dataclass
class ImportSummary:
    import_id: int
    status: str  # done | duplicate (same content already imported)
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    superseded: int = 0
    corrected: int = 0
    flagged: int = 0

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def validate_row(
    conn: Connection,
    row: dict[str, object],
    row_number: int,
    *,
    unit_cache: dict[tuple[str, str], object],
) -> ValidRow | list[FieldProblem]:
    """Check one canonical row; return every problem found, not only the first."""
    problems: list[FieldProblem] = []

    def attempt(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except ValidationFailed as exc:
            problems.extend(exc.problems)
            return None

    warnings: list[FieldProblem] = []
    pid = legacy = None
    raw_pid = converters.text(row.get("personal_id"))
    raw_legacy = converters.text(row.get("legacy_id"))
    if raw_pid is not None:
        parsed = attempt(lambda: parse_personal_id(raw_pid))
        if parsed is not None:
            pid = parsed.pid
            warnings.extend(parsed.warnings)
    if raw_legacy is not None:
        legacy = attempt(lambda: parse_legacy_id(raw_legacy))
    if raw_pid is None and raw_legacy is None:
        problems.append(
            FieldProblem(
                "personal_id",
                "personal_id.required",
                "a personal ID or a legacy CMND number is required",
                "phải có số định danh cá nhân hoặc số CMND cũ",
            )
        )
    name = converters.text(row.get("full_name"))
    if name is None:
        problems.append(
            FieldProblem("full_name", "full_name.required", "is required", "bắt buộc phải có")
        )
    birth = attempt(lambda: parse_birth_date(row.get("birth_date")))
    gender = attempt(lambda: converters.gender(row.get("gender")))
    unit = attempt(lambda: _unit(conn, row, unit_cache))
    coefficient = attempt(lambda: converters.coefficient_milli(row.get("coefficient")))
    bin_code = attempt(lambda: converters.bank_bin(row.get("bank_bin")))
    account = attempt(lambda: converters.account_number(row.get("account_number")))
    channel = attempt(
        lambda: converters.channel(row.get("channel"), has_account=account is not None)
    )
    if channel == "bank" and (bin_code is None or account is None) and not problems:
        problems.append(
            FieldProblem(
                "account_number",
                "account.required_for_bank",
                "bank payment needs both a BIN and an account number",
                "chi trả qua ngân hàng cần cả mã BIN và số tài khoản",
            )
        )
    if problems:
        return problems
    assert isinstance(birth, BirthDate) and name is not None
    if pid is not None:
        warnings.extend(cross_check(pid, birth_year=birth.year, gender=gender))
    return ValidRow(
        row_number=row_number,
        source_ref=converters.text(row.get("source_ref")),
        pid=pid.value if pid is not None else None,
        legacy_id=legacy.value if legacy is not None else None,
        full_name=name,
        birth=birth,
        gender=gender,
        unit=unit,
        coefficient_milli=coefficient,
        channel=channel,
        bank_bin=bin_code,
        account_number=account,
        warnings=warnings,
    )


def _unit(
    conn: Connection, row: dict[str, object], cache: dict[tuple[str, str], object]
) -> units.Translation:
    scheme = units.scheme_of(converters.text(row.get("scheme")))
    code = converters.text(row.get("commune_code")) or ""
    key = (scheme, code)
    if key not in cache:
        cache[key] = units.to_current(conn, units.resolve(conn, scheme, code))
    return cache[key]  # type: ignore[return-value]


def masked_value(field_name: str, value: object) -> str:
    text = "" if value is None else str(value)
    if field_name in MASKED_FIELDS:
        return mask(text)
    return text[:60]


def problems_json(problems: Iterable[FieldProblem], row: dict[str, object]) -> list[dict[str, str]]:
    return [{**p.as_dict(), "value": masked_value(p.field, row.get(p.field))} for p in problems]


def import_rows(
    svc: Services,
    actor: Actor,
    *,
    source_key: str,
    source_kind: str,
    mapping: str,
    programme_code: str,
    period: str,
    content_hash: str,
    rows: Iterable[dict[str, object]],
    filename: str | None = None,
) -> ImportSummary:
    """Import canonical rows in one transaction; idempotent on (source_key, content_hash)."""
    now = svc.clock()
    with svc.db.begin() as conn:
        catalogue = load_catalogue(conn)
        prog = catalogue.programme(programme_code)
        catalogue.check_period(programme_code, period)
        existing = conn.execute(
            select(import_batch.c.id, import_batch.c.counts).where(
                import_batch.c.source_key == source_key, import_batch.c.content_hash == content_hash
            )
        ).first()
        if existing is not None:
            counts = dict(existing.counts or {})
            return ImportSummary(
                int(existing.id),
                "duplicate",
                **{
                    k: int(counts.get(k, 0))
                    for k in ("accepted", "quarantined", "duplicates", "flagged")
                },
            )
        previous = (
            conn.execute(
                select(import_batch.c.id).where(
                    import_batch.c.source_key == source_key, import_batch.c.status == "done"
                )
            )
            .scalars()
            .all()
        )
        import_id = int(
            conn.execute(
                insert(import_batch)
                .values(
                    source_key=source_key,
                    source_kind=source_kind,
                    filename=filename,
                    mapping=mapping,
                    programme_id=prog.id,
                    period=period,
                    content_hash=content_hash,
                    supersedes_id=previous[-1] if previous else None,
                    status="running",
                    counts={},
                    actor=actor.label(),
                    created_at=now,
                )
                .returning(import_batch.c.id)
            ).scalar_one()
        )
        summary = ImportSummary(import_id, "done")
        writer = _RowWriter(
            conn, svc.vault, catalogue, prog.id, programme_code, period, import_id, actor, now
        )
        writer.previous = set(previous)
        cache: dict[tuple[str, str], object] = {}
        for number, row in enumerate(rows, start=1):
            result = validate_row(conn, row, number, unit_cache=cache)
            if isinstance(result, list):
                writer.quarantine(number, row, result)
                summary.quarantined += 1
                continue
            outcome = writer.accept(result, row)
            if outcome == "duplicate":
                summary.duplicates += 1
                summary.quarantined += 1
            elif outcome == "quarantined":
                summary.quarantined += 1
            elif outcome == "corrected":
                summary.accepted += 1
                summary.corrected += 1
            else:
                summary.accepted += 1
                summary.flagged += outcome == "flagged"
        if previous:
            summary.superseded = _supersede(conn, previous, import_id, actor, now)
        conn.execute(
            update(import_batch)
            .where(import_batch.c.id == import_id)
            .values(status="done", counts=summary.as_dict(), finished_at=svc.clock())
        )
        audit.record(
            conn,
            actor,
            "intake.import",
            "import_batch",
            import_id,
            purpose="beneficiary list intake",
            detail={
                "source": source_key,
                "programme": programme_code,
                "period": period,
                **{k: v for k, v in summary.as_dict().items() if k != "import_id"},
            },
        )
    return summary


def _supersede(
    conn: Connection, previous: Sequence[int], import_id: int, actor: Actor, now: dt.datetime
) -> int:
    """A corrected version replaces the earlier one: rows it no longer lists are cancelled."""
    conn.execute(
        update(import_batch).where(import_batch.c.id.in_(previous)).values(status="superseded")
    )
    stale = conn.execute(
        select(enrollment.c.id, enrollment.c.state).where(
            enrollment.c.import_id.in_(previous),
            enrollment.c.state.in_([EnrollmentState.PROPOSED, EnrollmentState.VERIFIED]),
        )
    ).all()
    for row in stale:
        conn.execute(
            update(enrollment)
            .where(enrollment.c.id == row.id)
            .values(state=EnrollmentState.CANCELLED, updated_at=now)
        )
        conn.execute(
            insert(enrollment_transition).values(
                enrollment_id=row.id,
                from_state=row.state,
                to_state=EnrollmentState.CANCELLED,
                actor=actor.label(),
                reason=f"superseded by corrected list (import {import_id})",
                at=now,
            )
        )
    return len(stale)


class _RowWriter:
    def __init__(
        self,
        conn: Connection,
        vault: PiiVault,
        catalogue: Catalogue,
        programme_id: int,
        programme_code: str,
        period: str,
        import_id: int,
        actor: Actor,
        now: dt.datetime,
    ) -> None:
        self.conn, self.vault, self.catalogue = conn, vault, catalogue
        self.programme_id, self.programme_code, self.period = programme_id, programme_code, period
        self.import_id, self.actor, self.now = import_id, actor, now
        # earlier versions of this source: a corrected row takes theirs over
        self.previous: set[int] = set()

    def quarantine(self, number: int, row: dict[str, object], problems: list[FieldProblem]) -> None:
        raw = json.dumps(row, ensure_ascii=False, default=str)
        self.conn.execute(
            insert(quarantine_row).values(
                import_id=self.import_id,
                row_number=number,
                raw_enc=self.vault.encrypt(raw, QUARANTINE_PURPOSE),
                problems=problems_json(problems, row),
                status="open",
                created_at=self.now,
            )
        )

    def accept(self, row: ValidRow, raw: dict[str, object]) -> str:
        try:
            amount = self.catalogue.amount(self.programme_code, self.period, row.coefficient_milli)
        except ValidationFailed as exc:
            self.quarantine(row.row_number, raw, exc.problems)
            return "quarantined"
        person_id, _ = people.find_or_create(
            self.conn,
            self.vault,
            people.PersonFacts(
                row.pid,
                row.legacy_id,
                row.full_name,
                row.birth,
                row.gender,
                residence_unit_id=row.unit.unit.id,
            ),
            source=f"import:{self.import_id}",
            now=self.now,
        )
        account_id = None
        if row.channel == "bank":
            account_id = self._account(person_id, row)
            if account_id is None:
                self.quarantine(
                    row.row_number,
                    raw,
                    [
                        FieldProblem(
                            "account_number",
                            "account.other_person",
                            "this account is registered to another beneficiary",
                            "số tài khoản này đã đăng ký cho người hưởng khác",
                        )
                    ],
                )
                return "quarantined"
        new_id = self.conn.execute(
            insert_ignore(self.conn, enrollment)
            .values(
                programme_id=self.programme_id,
                period=self.period,
                person_id=person_id,
                unit_id=row.unit.unit.id,
                coefficient_milli=row.coefficient_milli,
                amount=amount,
                state=EnrollmentState.PROPOSED,
                channel=row.channel,
                payee_account_id=account_id,
                import_id=self.import_id,
                source_row=row.row_number,
                source_ref=row.source_ref,
                created_at=self.now,
                updated_at=self.now,
            )
            .returning(enrollment.c.id)
        ).scalar()
        if new_id is None:
            if self._take_over(person_id, row, amount, account_id):
                return "corrected"
            return self._duplicate(person_id, row, raw)
        self.conn.execute(
            insert(enrollment_transition).values(
                enrollment_id=new_id,
                from_state=None,
                to_state=EnrollmentState.PROPOSED,
                actor=self.actor.label(),
                reason=f"listed in import {self.import_id} row {row.row_number}",
                at=self.now,
            )
        )
        flags = self._flags(row)
        for kind, key, detail in flags:
            self.conn.execute(
                insert_ignore(self.conn, flag).values(
                    enrollment_id=new_id,
                    kind=kind,
                    detail_key=key,
                    detail=detail,
                    status="open",
                    created_at=self.now,
                )
            )
        return "flagged" if flags else "accepted"

    def _flags(self, row: ValidRow) -> list[tuple[str, str, dict[str, object]]]:
        found: list[tuple[str, str, dict[str, object]]] = []
        inconsistent = [w for w in row.warnings if w.rule.endswith("_mismatch")]
        if inconsistent:
            found.append(
                (FlagKind.PID_INCONSISTENT, "", {"problems": [w.as_dict() for w in inconsistent]})
            )
        if row.unit.is_split:
            found.append(
                (
                    FlagKind.SPLIT_COMMUNE,
                    row.unit.source.qualified,
                    {
                        "legacy_unit": row.unit.source.qualified,
                        "candidates": [c.qualified for c in row.unit.split_candidates],
                    },
                )
            )
        return found

    def _account(self, person_id: int, row: ValidRow) -> int | None:
        assert row.bank_bin and row.account_number
        index, enc = self.vault.protect(row.account_number, Purpose.ACCOUNT)
        found = self.conn.execute(
            select(payee_account.c.id, payee_account.c.person_id).where(
                payee_account.c.bin == row.bank_bin, payee_account.c.number_index == index
            )
        ).first()
        if found is not None:
            return int(found.id) if found.person_id == person_id else None
        return int(
            self.conn.execute(
                insert(payee_account)
                .values(
                    person_id=person_id,
                    bin=row.bank_bin,
                    number_index=index,
                    number_enc=enc,
                    status="unverified",
                    created_at=self.now,
                )
                .returning(payee_account.c.id)
            ).scalar_one()
        )

    def _take_over(
        self, person_id: int, row: ValidRow, amount: int, account_id: int | None
    ) -> bool:
        """A corrected version of the same source lists the person again: its row replaces the
        earlier one, which goes back to *proposed* (to be verified again) if it had not yet been
        approved. Approved or paid entitlements are never rewritten by a re-import."""
        existing = self.conn.execute(
            select(enrollment.c.id, enrollment.c.state, enrollment.c.import_id).where(
                enrollment.c.programme_id == self.programme_id,
                enrollment.c.period == self.period,
                enrollment.c.person_id == person_id,
            )
        ).one()
        open_states = (EnrollmentState.PROPOSED, EnrollmentState.VERIFIED)
        if existing.import_id not in self.previous or existing.state not in open_states:
            return False
        self.conn.execute(
            update(enrollment)
            .where(enrollment.c.id == existing.id)
            .values(
                import_id=self.import_id,
                source_row=row.row_number,
                source_ref=row.source_ref,
                unit_id=row.unit.unit.id,
                coefficient_milli=row.coefficient_milli,
                amount=amount,
                channel=row.channel,
                payee_account_id=account_id,
                state=EnrollmentState.PROPOSED,
                updated_at=self.now,
            )
        )
        self.conn.execute(
            insert(enrollment_transition).values(
                enrollment_id=existing.id,
                from_state=existing.state,
                to_state=EnrollmentState.PROPOSED,
                actor=self.actor.label(),
                reason=f"corrected list: import {self.import_id} row {row.row_number}",
                at=self.now,
            )
        )
        return True

    def _duplicate(self, person_id: int, row: ValidRow, raw: dict[str, object]) -> str:
        """Listed again (another commune, or twice): keep the row, flag the first listing."""
        first = self.conn.execute(
            select(
                enrollment.c.id,
                enrollment.c.unit_id,
                enrollment.c.import_id,
                enrollment.c.source_row,
            ).where(
                enrollment.c.programme_id == self.programme_id,
                enrollment.c.period == self.period,
                enrollment.c.person_id == person_id,
            )
        ).one()
        self.conn.execute(
            insert_ignore(self.conn, flag).values(
                enrollment_id=first.id,
                kind=FlagKind.DUPLICATE_IN_INTAKE,
                detail_key=f"{self.import_id}:{row.row_number}",
                detail={
                    "other_unit": row.unit.unit.qualified,
                    "import_id": self.import_id,
                    "row": row.row_number,
                },
                status="open",
                created_at=self.now,
            )
        )
        self.quarantine(
            row.row_number,
            raw,
            [
                FieldProblem(
                    "personal_id",
                    "enrollment.duplicate",
                    f"this person is already listed for {self.programme_code} {self.period} "
                    f"(import {first.import_id}, row {first.source_row})",
                    f"người này đã có trong danh sách {self.programme_code} kỳ {self.period} "
                    f"(lần nhập {first.import_id}, dòng {first.source_row})",
                )
            ],
        )
        return "duplicate"


def programme_id(conn: Connection, code: str) -> int:
    found = conn.execute(select(programme.c.id).where(programme.c.code == code)).scalar()
    if found is None:
        raise problem(
            "programme",
            "programme.unknown",
            f"no programme {code!r}",
            f"không có chương trình {code!r}",
        )
    return int(found)
