"""Intake: provincial lists become persons and proposed enrollments, or quarantined rows.

Every source — a CSV or XLSX file, a page of a province's REST API, rows posted to our API —
goes through its mapping (``mappings/``) and the canonical validator, then the checks that need
the database. Rows stream through one transaction: memory does not grow with the list, a crash
or a rejected file leaves nothing half-written, and the same version of a list is imported once.
A corrected version supersedes the earlier one. Nothing is dropped: a row either becomes an
enrollment or is kept in quarantine with every problem found in it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from adapters.welfare.port import ListFile
from gateway.db.tables import enrollment, enrollment_transition, import_batch, programme
from gateway.domain.states import EnrollmentState
from gateway.errors import FieldProblem, GatewayError, problem
from gateway.security.principal import Actor
from gateway.services import audit, quarantine, units
from gateway.services.catalogue import load_catalogue
from gateway.services.context import Services
from gateway.services.intake_writer import RowWriter, ValidRow
from mappings import engine, record
from mappings.errors import FileRejected

QUARANTINE_PURPOSE = quarantine.PURPOSE
CHUNK_ROWS = 500  # rows between progress reports


@dataclass
class ImportSummary:
    import_id: int
    status: str  # done | duplicate (same version already imported) | rejected (whole file)
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    superseded: int = 0
    corrected: int = 0
    flagged: int = 0
    rows: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Incoming:
    """One source record after its mapping: canonical raw values and any mapping problems."""

    number: int
    location: str
    fields: dict[str, object]
    problems: list[FieldProblem]


@dataclass(frozen=True)
class ListMeta:
    source_key: str
    source_kind: str
    mapping: str
    programme_code: str
    period: str
    content_hash: str
    filename: str | None = None


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
    """Records that are dictionaries (REST items, API rows, the fake source) read through
    ``mapping`` (``canonical`` for the canonical field names or template headers)."""
    extract = engine.load(mapping).bind_keys()

    def records() -> Iterator[Incoming]:
        for number, row in enumerate(rows, start=1):
            fields, problems = extract(row)
            location = str(row.get("@location") or f"item {number}")
            yield Incoming(number, location, fields, problems)

    meta = ListMeta(
        source_key, source_kind, mapping, programme_code, period, content_hash, filename
    )
    return run_import(svc, actor, meta, records())


def import_file(
    svc: Services,
    actor: Actor,
    list_file: ListFile,
    *,
    mapping: str,
    programme_code: str,
    period: str,
    source_key: str | None = None,
) -> ImportSummary:
    """A CSV or XLSX list, streamed table by table and row by row through its mapping.

    The list's identity is ``source_key`` (by default mapping, programme, period and file
    name); its version is the SHA-256 of the file. A file that is not what the mapping expects
    is rejected whole (``FileRejected``) and the rejection is recorded."""
    spec = engine.load(mapping)
    version = list_file.fingerprint()
    key = source_key or f"file:{spec.name}:{programme_code}:{period}:{list_file.name}"

    def records() -> Iterator[Incoming]:
        number = 0
        for table in list_file.tables():
            extract = spec.bind_header(table.header or (), table.sheet)
            skip = spec.skipper(table.header or ())
            for raw in table.rows:
                cells: Any = raw.cells
                if skip(cells):
                    continue
                number += 1
                fields, problems = extract(cells)
                yield Incoming(number, raw.location, fields, problems)

    meta = ListMeta(key, list_file.kind, mapping, programme_code, period, version, list_file.name)
    return run_import(svc, actor, meta, records())


def content_hash(rows: Sequence[dict[str, object]]) -> str:
    import json

    body = json.dumps(rows, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def run_import(
    svc: Services, actor: Actor, meta: ListMeta, records: Iterator[Incoming]
) -> ImportSummary:
    try:
        return _run(svc, actor, meta, records)
    except FileRejected as exc:
        import_id = _record_rejection(svc, actor, meta, exc)
        exc.detail["import_id"] = import_id
        raise


def _run(svc: Services, actor: Actor, meta: ListMeta, records: Iterator[Incoming]) -> ImportSummary:
    now = svc.clock()
    with svc.db.begin() as conn:
        catalogue = load_catalogue(conn)
        prog = catalogue.programme(meta.programme_code)
        catalogue.check_period(meta.programme_code, meta.period)
        existing = conn.execute(
            select(import_batch.c.id, import_batch.c.counts, import_batch.c.status).where(
                import_batch.c.source_key == meta.source_key,
                import_batch.c.content_hash == meta.content_hash,
            )
        ).first()
        if existing is not None and existing.status != "rejected":
            counts = dict(existing.counts or {})
            summary = ImportSummary(int(existing.id), "duplicate")
            for key in ("accepted", "quarantined", "duplicates", "flagged", "rows"):
                setattr(summary, key, int(counts.get(key, 0)))
            return summary
        if existing is not None:  # the same bytes were rejected before: try again
            conn.execute(delete(import_batch).where(import_batch.c.id == existing.id))
        previous = list(
            conn.execute(
                select(import_batch.c.id).where(
                    import_batch.c.source_key == meta.source_key, import_batch.c.status == "done"
                )
            ).scalars()
        )
        import_id = _new_batch(conn, actor, meta, prog.id, previous, now)
        summary = ImportSummary(import_id, "done")
        writer = RowWriter(
            conn,
            svc.vault,
            catalogue,
            prog.id,
            meta.programme_code,
            meta.period,
            import_id,
            actor,
            now,
        )
        writer.previous = set(previous)
        writer.scope_unit_id = actor.unit_id
        cache: dict[tuple[str, str], object] = {}
        for incoming in records:
            summary.rows += 1
            _one(conn, writer, incoming, meta.programme_code, cache, summary)
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
                "source": meta.source_key,
                "programme": meta.programme_code,
                "period": meta.period,
                **{k: v for k, v in summary.as_dict().items() if k not in ("import_id", "error")},
            },
        )
    return summary


def _new_batch(
    conn: Connection,
    actor: Actor,
    meta: ListMeta,
    programme_id: int,
    previous: list[int],
    now: dt.datetime,
) -> int:
    return int(
        conn.execute(
            insert(import_batch)
            .values(
                source_key=meta.source_key,
                source_kind=meta.source_kind,
                filename=meta.filename,
                mapping=meta.mapping,
                programme_id=programme_id,
                period=meta.period,
                content_hash=meta.content_hash,
                supersedes_id=previous[-1] if previous else None,
                status="running",
                counts={},
                actor=actor.label(),
                created_at=now,
            )
            .returning(import_batch.c.id)
        ).scalar_one()
    )


def _one(
    conn: Connection,
    writer: RowWriter,
    incoming: Incoming,
    programme_code: str,
    cache: dict[tuple[str, str], object],
    summary: ImportSummary,
) -> None:
    writer.locations[incoming.number] = incoming.location
    result = check_row(conn, incoming, programme_code, cache)
    if isinstance(result, list):
        writer.quarantine(
            incoming.number,
            incoming.fields,
            result,
            location=incoming.location,
            unit_id=_unit_hint(conn, incoming.fields, cache),
        )
        summary.quarantined += 1
        writer.locations.pop(incoming.number, None)
        return
    outcome = writer.accept(result, incoming.fields)
    writer.locations.pop(incoming.number, None)
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


def check_row(
    conn: Connection,
    incoming: Incoming,
    programme_code: str,
    cache: dict[tuple[str, str], object],
) -> ValidRow | list[FieldProblem]:
    """The canonical validator, then what needs the database: the admin unit of its scheme."""
    checked = record.validate(incoming.fields)
    problems = list(incoming.problems)
    if isinstance(checked, list):
        problems += checked
        if not any(p.field in ("commune_code", "scheme") for p in checked):
            _unit_problems(conn, incoming.fields, cache, problems)
        return problems
    if checked.programme is not None and checked.programme != programme_code:
        problems.append(
            FieldProblem(
                "programme",
                "programme.other_list",
                f"row is for {checked.programme}, this list is {programme_code}",
                f"dòng thuộc chương trình {checked.programme}, danh sách là {programme_code}",
            )
        )
    try:
        unit = _unit(conn, checked.scheme, checked.commune_code, cache)
    except GatewayError as exc:
        problems.extend(getattr(exc, "problems", []))
        unit = None
    if problems or unit is None:
        return problems
    return ValidRow(
        row_number=incoming.number,
        source_ref=checked.source_ref,
        pid=checked.personal_id,
        legacy_id=checked.legacy_id,
        full_name=checked.full_name,
        birth=checked.birth,
        gender=checked.gender,
        unit=unit,
        coefficient_milli=checked.coefficient_milli,
        channel=checked.channel,
        bank_bin=checked.bank_bin,
        account_number=checked.account_number,
        warnings=checked.warnings,
    )


def _unit(
    conn: Connection, scheme: str, code: str, cache: dict[tuple[str, str], object]
) -> units.Translation:
    key = (scheme, code)
    if key not in cache:
        try:
            cache[key] = units.to_current(conn, units.resolve(conn, scheme, code))
        except GatewayError as exc:
            cache[key] = exc
    found = cache[key]
    if isinstance(found, GatewayError):
        raise found
    return found  # type: ignore[return-value]


def _unit_problems(
    conn: Connection,
    fields: dict[str, object],
    cache: dict[tuple[str, str], object],
    problems: list[FieldProblem],
) -> None:
    """Every problem of a rejected row, the unknown commune code included."""
    from mappings import converters

    try:
        scheme = converters.admin_scheme(fields.get("scheme")) or "2025-07"
        code = converters.admin_code(fields.get("commune_code"))
        if code is not None:
            _unit(conn, scheme, code, cache)
    except GatewayError as exc:
        problems.extend(getattr(exc, "problems", []))


def _unit_hint(
    conn: Connection, fields: dict[str, object], cache: dict[tuple[str, str], object]
) -> int | None:
    """The unit a rejected row belongs to, when its commune code at least is valid (scope)."""
    try:
        from mappings import converters

        scheme = converters.admin_scheme(fields.get("scheme")) or "2025-07"
        code = converters.admin_code(fields.get("commune_code"))
        if code is None:
            return None
        return _unit(conn, scheme, code, cache).unit.id
    except GatewayError:
        return None


def replay_row(
    svc: Services, conn: Connection, actor: Actor, qrow: Any, fields: dict[str, object]
) -> quarantine.ReplayResult:
    """A corrected quarantined row, through the same checks, inside the caller's transaction."""
    catalogue = load_catalogue(conn)
    batch = conn.execute(
        select(import_batch.c.period, programme.c.code, programme.c.id)
        .join(programme, programme.c.id == import_batch.c.programme_id)
        .where(import_batch.c.id == qrow.import_id)
    ).one()
    now = svc.clock()
    incoming = Incoming(qrow.row_number, qrow.location or "", fields, [])
    writer = RowWriter(
        conn, svc.vault, catalogue, batch.id, batch.code, batch.period, qrow.import_id, actor, now
    )
    writer.scope_unit_id = qrow.unit_id
    result = check_row(conn, incoming, batch.code, {})
    if not isinstance(result, list):
        outcome = writer.accept(result, fields)
        if outcome not in ("duplicate", "quarantined"):
            enrollment_id = _enrollment_of(conn, batch.id, batch.period, result, svc)
            quarantine.close(
                conn,
                qrow.id,
                "replayed",
                actor,
                now,
                resolution="corrected and accepted",
                enrollment_id=enrollment_id,
            )
            return quarantine.ReplayResult(True, enrollment_id, [])
        result = _stored_problems(conn, qrow.id)
    else:
        writer.quarantine(qrow.row_number, fields, result, location=qrow.location)
    return quarantine.ReplayResult(False, None, result)


def _enrollment_of(
    conn: Connection, programme_id: int, period: str, row: ValidRow, svc: Services
) -> int | None:
    from gateway.services import people

    person_id = None
    if row.pid:
        person_id = people.find_by_pid(conn, svc.vault, row.pid)
    if person_id is None and row.legacy_id:
        person_id = people.find_by_legacy(conn, svc.vault, row.legacy_id)
    found = conn.execute(
        select(enrollment.c.id).where(
            enrollment.c.programme_id == programme_id,
            enrollment.c.period == period,
            enrollment.c.person_id == person_id,
        )
    ).scalar()
    return None if found is None else int(found)


def _stored_problems(conn: Connection, row_id: int) -> list[FieldProblem]:
    from gateway.db.tables import quarantine_row

    stored = conn.execute(
        select(quarantine_row.c.problems).where(quarantine_row.c.id == row_id)
    ).scalar_one()
    return [FieldProblem(p["field"], p["rule"], p["message"], p["message_vi"]) for p in stored]


def _record_rejection(svc: Services, actor: Actor, meta: ListMeta, exc: FileRejected) -> int:
    """A rejected file is kept on record (what, when, why); none of its rows are."""
    now = svc.clock()
    with svc.db.begin() as conn:
        catalogue = load_catalogue(conn)
        prog = catalogue.programme(meta.programme_code)
        conn.execute(
            delete(import_batch).where(
                import_batch.c.source_key == meta.source_key,
                import_batch.c.content_hash == meta.content_hash,
                import_batch.c.status == "rejected",
            )
        )
        import_id = _new_batch(conn, actor, meta, prog.id, [], now)
        conn.execute(
            update(import_batch)
            .where(import_batch.c.id == import_id)
            .values(
                status="rejected",
                supersedes_id=None,
                error=f"{exc.rule}: {exc.message} | {exc.message_vi}"[:2000],
                finished_at=now,
            )
        )
        audit.record(
            conn,
            actor,
            "intake.reject_file",
            "import_batch",
            import_id,
            purpose="beneficiary list intake",
            detail={"source": meta.source_key, "rule": exc.rule, "file": meta.filename},
        )
    return import_id


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
