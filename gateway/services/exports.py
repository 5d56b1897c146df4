"""Streamed CSV and XLSX exports of entitlements, and the printable per-commune payment list.

Rows are read in keyset-paged chunks and written as they come, so a million-row export holds
one chunk in memory: CSV is a generator of encoded lines; XLSX uses openpyxl's write-only mode
(rows go to a temporary file) and the file is then streamed in blocks. Headers are Vietnamese;
amounts are integer cells with the number format ``#,##0``, which Excel and LibreOffice show
with the reader's grouping separator (``1.250.000`` for Vietnamese readers).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from gateway.db.tables import admin_unit, enrollment, payment_instruction, person, programme
from gateway.domain.states import InstructionState
from gateway.security.principal import Actor
from gateway.security.vault import PiiVault, Purpose
from gateway.services import audit, units
from gateway.services.context import Services
from gateway.services.workspace import aware, mask_pid

CHUNK = 2000
AMOUNT_FORMAT = "#,##0"
COLUMNS = (  # (key, Vietnamese header)
    ("id", "Mã hồ sơ"),
    ("programme", "Chương trình"),
    ("period", "Kỳ chi trả"),
    ("province", "Mã tỉnh"),
    ("commune_code", "Mã xã/phường"),
    ("commune", "Xã/phường"),
    ("full_name", "Họ và tên"),
    ("birth_year", "Năm sinh"),
    ("personal_id", "Số định danh (che)"),
    ("amount", "Số tiền (đồng)"),
    ("state", "Trạng thái"),
    ("channel", "Hình thức chi trả"),
    ("paid_on", "Ngày chi trả"),
    ("reference", "Mã tham chiếu"),
)
STATE_VI = {
    "proposed": "Đề xuất",
    "verified": "Đã xác minh",
    "approved": "Đã duyệt, chưa chi",
    "paid": "Đã chi trả",
    "rejected": "Từ chối",
    "cancelled": "Đã hủy",
    "suspended": "Tạm dừng",
}
CHANNEL_VI = {"bank": "Chuyển khoản", "postoffice": "Bưu điện (tiền mặt)"}


@dataclass(frozen=True)
class ExportFilter:
    unit_id: int | None = None
    programme_id: int | None = None
    state: str | None = None
    period_from: str | None = None  # YYYY-MM, inclusive
    period_to: str | None = None


def _query(actor: Actor, f: ExportFilter, unit: units.Unit | None) -> Any:
    query = (
        select(
            enrollment.c.id,
            enrollment.c.period,
            enrollment.c.amount,
            enrollment.c.state,
            enrollment.c.channel,
            programme.c.code.label("programme"),
            admin_unit.c.province_code.label("province"),
            admin_unit.c.code.label("commune_code"),
            admin_unit.c.name.label("commune"),
            person.c.full_name,
            person.c.birth_year,
            person.c.pid_enc,
            select(payment_instruction.c.settled_at)
            .where(
                payment_instruction.c.enrollment_id == enrollment.c.id,
                payment_instruction.c.state == InstructionState.SETTLED,
            )
            .limit(1)
            .scalar_subquery()
            .label("settled_at"),
            select(payment_instruction.c.reference)
            .where(payment_instruction.c.enrollment_id == enrollment.c.id)
            .order_by(payment_instruction.c.attempt.desc())
            .limit(1)
            .scalar_subquery()
            .label("reference"),
        )
        .join(programme, programme.c.id == enrollment.c.programme_id)
        .join(admin_unit, admin_unit.c.id == enrollment.c.unit_id)
        .join(person, person.c.id == enrollment.c.person_id)
        .where(units.scope_filter(actor, enrollment.c.unit_id))
    )
    if unit is not None:
        query = query.where(
            admin_unit.c.scheme == unit.scheme,
            admin_unit.c.path.startswith(unit.path, autoescape=True),
        )
    if f.programme_id is not None:
        query = query.where(enrollment.c.programme_id == f.programme_id)
    if f.state:
        query = query.where(enrollment.c.state == f.state)
    if f.period_from:
        query = query.where(enrollment.c.period >= f.period_from)
    if f.period_to:
        query = query.where(enrollment.c.period <= f.period_to)
    return query


def rows(svc: Services, actor: Actor, f: ExportFilter) -> Iterator[dict[str, Any]]:
    """Every matching entitlement in the actor's scope, chunk by chunk (keyset on id)."""
    with svc.db.read() as conn:
        unit = _unit(conn, actor, f)
        query = _query(actor, f, unit)
    last = 0
    while True:
        with svc.db.read() as conn:
            chunk = conn.execute(
                query.where(enrollment.c.id > last).order_by(enrollment.c.id).limit(CHUNK)
            ).all()
        if not chunk:
            return
        for r in chunk:
            yield _out(svc.vault, r)
        last = chunk[-1].id


def _unit(conn: Connection, actor: Actor, f: ExportFilter) -> units.Unit | None:
    if f.unit_id is None:
        return None
    units.require_scope(conn, actor, f.unit_id)
    return units.get(conn, f.unit_id)


def _out(vault: PiiVault, r: Any) -> dict[str, Any]:
    pid = vault.decrypt(r.pid_enc, Purpose.PID) if r.pid_enc else None
    paid = aware(r.settled_at)
    return {
        "id": r.id,
        "programme": r.programme,
        "period": r.period,
        "province": r.province,
        "commune_code": r.commune_code,
        "commune": r.commune,
        "full_name": r.full_name,
        "birth_year": r.birth_year,
        "personal_id": mask_pid(pid),
        "amount": int(r.amount),
        "state": STATE_VI.get(r.state, r.state),
        "channel": CHANNEL_VI.get(r.channel, r.channel),
        "paid_on": paid.date() if paid else None,
        "reference": r.reference or "",
    }


def record_export(svc: Services, actor: Actor, kind: str, f: ExportFilter) -> None:
    with svc.db.begin() as conn:
        audit.record(
            conn,
            actor,
            "export." + kind,
            "enrollment",
            None,
            purpose="report",
            detail={k: v for k, v in f.__dict__.items() if v is not None},
        )


def csv_stream(records: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    """UTF-8 with a byte-order mark (Excel opens Vietnamese text correctly), one chunk per row
    batch; dates as dd/mm/yyyy."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([h for _, h in COLUMNS])
    yield ("\ufeff" + buffer.getvalue()).encode()
    buffer.seek(0)
    buffer.truncate()
    for n, rec in enumerate(records, 1):
        writer.writerow([_csv_value(rec[k]) for k, _ in COLUMNS])
        if n % 500 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _csv_value(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return "" if value is None else value


def xlsx_stream(records: Iterator[dict[str, Any]], *, title: str) -> Iterator[bytes]:
    """An XLSX built in write-only mode into a temporary file, then streamed in 64 KiB blocks."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31] or "Danh sach")
    bold = Font(bold=True)
    header = []
    for _, h in COLUMNS:
        cell = WriteOnlyCell(sheet, value=h)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    amount_at = [k for k, _ in COLUMNS].index("amount")
    date_at = [k for k, _ in COLUMNS].index("paid_on")
    for rec in records:
        values: list[Any] = [rec[k] for k, _ in COLUMNS]
        amount = WriteOnlyCell(sheet, value=values[amount_at])
        amount.number_format = AMOUNT_FORMAT
        values[amount_at] = amount
        if values[date_at] is not None:
            paid = WriteOnlyCell(sheet, value=values[date_at])
            paid.number_format = "dd/mm/yyyy"
            values[date_at] = paid
        sheet.append(values)
    with tempfile.TemporaryFile() as fh:
        workbook.save(fh)
        fh.seek(0)
        while block := fh.read(65536):
            yield block


# -- printable payment list -----------------------------------------------------------------


@dataclass
class PayoutList:
    unit: units.Unit
    programme: Any
    period: str
    lines: list[dict[str, Any]]
    total: int


def payout_list(
    svc: Services, actor: Actor, *, unit_id: int, programme_id: int, period: str
) -> PayoutList:
    """Approved (unpaid and paid) beneficiaries of one commune, as signed at the payout."""
    with svc.db.read() as conn:
        units.require_scope(conn, actor, unit_id)
        unit = units.get(conn, unit_id)
        prog = conn.execute(select(programme).where(programme.c.id == programme_id)).one()
        found = conn.execute(
            select(
                enrollment.c.id,
                enrollment.c.amount,
                enrollment.c.state,
                person.c.full_name,
                person.c.birth_year,
                person.c.pid_enc,
            )
            .join(person, person.c.id == enrollment.c.person_id)
            .where(
                enrollment.c.unit_id == unit_id,
                enrollment.c.programme_id == programme_id,
                enrollment.c.period == period,
                enrollment.c.state.in_(("approved", "paid")),
                enrollment.c.channel == "postoffice",
            )
            .order_by(person.c.name_key, enrollment.c.id)
        ).all()
    lines = [
        {
            "no": n,
            "full_name": r.full_name,
            "birth_year": r.birth_year,
            "personal_id": mask_pid(
                svc.vault.decrypt(r.pid_enc, Purpose.PID) if r.pid_enc else None
            ),
            "amount": int(r.amount),
            "paid": r.state == "paid",
        }
        for n, r in enumerate(found, 1)
    ]
    return PayoutList(unit, prog, period, lines, sum(line["amount"] for line in lines))
