"""Writing accepted intake rows: persons (found or created by blind index), payee accounts,
proposed enrollments with their first transition, intake flags; and what a re-import does —
a corrected version takes over its earlier rows, a second listing of a person is kept in
quarantine and flags the first."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import Connection, insert, select, update

from gateway.db.dialect import insert_ignore
from gateway.db.tables import enrollment, enrollment_transition, flag, payee_account
from gateway.domain.dates import BirthDate
from gateway.domain.states import EnrollmentState, FlagKind
from gateway.errors import FieldProblem, ValidationFailed
from gateway.security.principal import Actor
from gateway.security.vault import PiiVault, Purpose
from gateway.services import people, quarantine, units
from gateway.services.catalogue import Catalogue


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


class RowWriter:
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
        self.locations: dict[int, str] = {}  # row number -> where it was (set by the caller)
        self.scope_unit_id: int | None = None  # quarantine scope when a row has no valid unit

    def quarantine(
        self,
        number: int,
        row: dict[str, object],
        problems: list[FieldProblem],
        *,
        location: str | None = None,
        unit_id: int | None = None,
    ) -> None:
        quarantine.keep(
            self.conn,
            self.vault,
            import_id=self.import_id,
            row_number=number,
            location=location or self.locations.get(number),
            row=row,
            problems=problems,
            unit_id=unit_id or self.scope_unit_id,
            now=self.now,
        )

    def accept(self, row: ValidRow, raw: dict[str, object]) -> str:
        try:
            amount = self.catalogue.amount(self.programme_code, self.period, row.coefficient_milli)
        except ValidationFailed as exc:
            self.quarantine(row.row_number, raw, exc.problems, unit_id=row.unit.unit.id)
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
