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

from sqlalchemy import Connection, delete, insert, literal, select, update

from adapters.welfare.port import ListFile, Table
from gateway.db.tables import enrollment, enrollment_transition, import_batch, programme
from gateway.domain.states import EnrollmentState
from gateway.errors import problem
from gateway.security.principal import Actor
from gateway.services import audit, quarantine, screen_intake
from gateway.services.catalogue import load_catalogue
from gateway.services.context import Services
from gateway.services.intake_check import RowChecker, Stream
from gateway.services.intake_writer import Chunk, ChunkWriter, RowSource, Target
from mappings import compiled, engine
from mappings.errors import FileRejected

QUARANTINE_PURPOSE = quarantine.PURPOSE
CHUNK_ROWS = 2_000  # rows written per set of statements; memory is bounded by it


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
    registry: str | None = None  # registry screening: done | unavailable | None (not asked)
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


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
    spec = engine.load(mapping)
    extract = spec.bind_keys()
    stream = Stream(
        enumerate(rows, start=1),
        compiled.compile_keys(spec),
        extract,
        None,
        RowSource(lambda src: extract(src)[0], _item_location),
    )
    meta = ListMeta(
        source_key, source_kind, mapping, programme_code, period, content_hash, filename
    )
    return run_import(svc, actor, meta, iter([stream]))


def _item_location(at: int, src: Any) -> str:
    return str(src.get("@location") or f"item {at}")


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
    meta = ListMeta(key, list_file.kind, mapping, programme_code, period, version, list_file.name)
    return run_import(svc, actor, meta, _file_streams(spec, list_file))


def _file_streams(spec: engine.Mapping, list_file: ListFile) -> Iterator[Stream]:
    for table in list_file.tables():
        header = table.header or ()
        extract = spec.bind_header(header, table.sheet)  # a required column missing: rejected
        yield Stream(
            table.cells,
            compiled.compile_table(spec, header, table.sheet),
            extract,
            spec.skipper(header),
            RowSource(_fields_of(extract), _table_location(table)),
        )


def _fields_of(extract: engine.Extract) -> Any:
    return lambda src: extract(src)[0]


def _table_location(table: Table) -> Any:
    locate = table.locate
    return lambda at, src: locate(at)


def content_hash(rows: Sequence[dict[str, object]]) -> str:
    import json

    body = json.dumps(rows, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def run_import(
    svc: Services, actor: Actor, meta: ListMeta, streams: Iterator[Stream]
) -> ImportSummary:
    try:
        summary = _run(svc, actor, meta, streams)
    except FileRejected as exc:
        import_id = _record_rejection(svc, actor, meta, exc)
        exc.detail["import_id"] = import_id
        raise
    if summary.status == "done" and svc.settings.welfare.screen_registry:
        summary.registry = _ask_registry(svc, meta, summary.import_id)
    return summary


def _ask_registry(svc: Services, meta: ListMeta, import_id: int) -> str:
    with svc.db.read() as conn:
        prog_id = programme_id(conn, meta.programme_code)
    return screen_intake.ask_registry(svc, prog_id, meta.period, import_id)


def _run(svc: Services, actor: Actor, meta: ListMeta, streams: Iterator[Stream]) -> ImportSummary:
    now = svc.clock()
    with svc.db.begin() as conn:
        catalogue = load_catalogue(conn)
        prog = catalogue.programme(meta.programme_code)
        catalogue.check_period(meta.programme_code, meta.period)
        done = _already_imported(conn, meta)
        if done is not None:
            return done
        previous = list(
            conn.execute(
                select(import_batch.c.id).where(
                    import_batch.c.source_key == meta.source_key, import_batch.c.status == "done"
                )
            ).scalars()
        )
        import_id = _new_batch(conn, actor, meta, prog.id, previous, now)
        target = Target(
            prog.id,
            meta.programme_code,
            meta.period,
            import_id,
            actor.label(),
            now,
            frozenset(previous),
        )
        writer = ChunkWriter(conn, svc.vault, target)
        checker = RowChecker(conn, catalogue, meta.programme_code, meta.period, actor.unit_id)
        rows = _read_and_write(checker, streams, writer)
        counts = writer.counts
        summary = ImportSummary(
            import_id,
            "done",
            accepted=counts.accepted,
            quarantined=counts.quarantined,
            duplicates=counts.duplicates,
            corrected=counts.corrected,
            rows=rows,
        )
        if previous:
            summary.superseded = _supersede(conn, previous, import_id, actor, now)
        screen_intake.at_intake(
            conn, prog.id, meta.period, import_id, now, no_pid_units=writer.no_pid_units
        )
        summary.flagged = screen_intake.flagged(conn, import_id)
        _finish(conn, svc, actor, meta, summary)
    return summary


def _read_and_write(checker: RowChecker, streams: Iterator[Stream], writer: ChunkWriter) -> int:
    """Read and check a chunk, write it, reuse it. (A second thread writing while the next
    chunk is read was tried: no faster on this shared two-core machine, so not kept.)"""

    def flush(chunk: Chunk) -> Chunk:
        writer.write(chunk)
        chunk.clear()
        return chunk

    rows, last = checker.run(streams, Chunk(), flush, CHUNK_ROWS)
    writer.write(last)
    return rows


def _already_imported(conn: Connection, meta: ListMeta) -> ImportSummary | None:
    """The same version of the same list again: nothing is done twice."""
    existing = conn.execute(
        select(import_batch.c.id, import_batch.c.counts, import_batch.c.status).where(
            import_batch.c.source_key == meta.source_key,
            import_batch.c.content_hash == meta.content_hash,
        )
    ).first()
    if existing is None:
        return None
    if existing.status == "rejected":  # the same bytes were rejected before: try again
        conn.execute(delete(import_batch).where(import_batch.c.id == existing.id))
        return None
    counts = dict(existing.counts or {})
    summary = ImportSummary(int(existing.id), "duplicate")
    for key in ("accepted", "quarantined", "duplicates", "flagged", "rows"):
        setattr(summary, key, int(counts.get(key, 0)))
    return summary


def _finish(
    conn: Connection, svc: Services, actor: Actor, meta: ListMeta, summary: ImportSummary
) -> None:
    conn.execute(
        update(import_batch)
        .where(import_batch.c.id == summary.import_id)
        .values(status="done", counts=summary.as_dict(), finished_at=svc.clock())
    )
    audit.record(
        conn,
        actor,
        "intake.import",
        "import_batch",
        summary.import_id,
        purpose="beneficiary list intake",
        detail={
            "source": meta.source_key,
            "programme": meta.programme_code,
            "period": meta.period,
            **{
                k: v
                for k, v in summary.as_dict().items()
                if k not in ("import_id", "error", "registry")
            },
        },
    )


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


def replay_row(
    svc: Services, conn: Connection, actor: Actor, qrow: Any, fields: dict[str, object]
) -> quarantine.ReplayResult:
    """A corrected quarantined row, through the same checks and the same writer, inside the
    caller's transaction; screened like any row at intake when it is accepted."""
    catalogue = load_catalogue(conn)
    batch = conn.execute(
        select(import_batch.c.period, programme.c.code, programme.c.id)
        .join(programme, programme.c.id == import_batch.c.programme_id)
        .where(import_batch.c.id == qrow.import_id)
    ).one()
    now = svc.clock()
    target = Target(batch.id, batch.code, batch.period, qrow.import_id, actor.label(), now)
    checker = RowChecker(conn, catalogue, batch.code, batch.period, qrow.unit_id)
    chunk = Chunk()
    source = RowSource(dict, lambda at, src: str(qrow.location or ""))
    number = int(qrow.row_number)
    checker.diagnose(chunk, number, number, fields, lambda src: (dict(src), []), source)
    writer = ChunkWriter(conn, svc.vault, target)
    writer.write(chunk, keep_held=False)
    if chunk.held:  # still wrong, or held back while writing (listed twice, another's account)
        held = chunk.held[-1]
        quarantine.keep(
            conn,
            svc.vault,
            import_id=qrow.import_id,
            row_number=number,
            location=qrow.location,
            row=fields,
            problems=held.problems,
            unit_id=held.unit_id or qrow.unit_id,
            now=now,
        )
        return quarantine.ReplayResult(False, None, held.problems)
    enrollment_id = conn.execute(
        select(enrollment.c.id).where(
            enrollment.c.import_id == qrow.import_id, enrollment.c.source_row == number
        )
    ).scalar_one()
    screen_intake.at_intake(
        conn,
        batch.id,
        batch.period,
        qrow.import_id,
        now,
        enrollment_ids=[enrollment_id],
        no_pid_units=writer.no_pid_units,
    )
    quarantine.close(
        conn,
        qrow.id,
        "replayed",
        actor,
        now,
        resolution="corrected and accepted",
        enrollment_id=enrollment_id,
    )
    return quarantine.ReplayResult(True, int(enrollment_id), [])


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
    """A corrected version replaces the earlier one: rows it no longer lists are cancelled
    (set-based: their transitions, then the state)."""
    conn.execute(
        update(import_batch).where(import_batch.c.id.in_(previous)).values(status="superseded")
    )
    stale = (
        enrollment.c.import_id.in_(previous),
        enrollment.c.state.in_([EnrollmentState.PROPOSED, EnrollmentState.VERIFIED]),
    )
    reason = f"superseded by corrected list (import {import_id})"
    conn.execute(
        insert(enrollment_transition).from_select(
            ["enrollment_id", "from_state", "to_state", "actor", "reason", "at"],
            select(
                enrollment.c.id,
                enrollment.c.state,
                literal(EnrollmentState.CANCELLED.value),
                literal(actor.label()),
                literal(reason),
                literal(now, enrollment_transition.c.at.type),
            ).where(*stale),
        )
    )
    return int(
        conn.execute(
            update(enrollment).where(*stale).values(state=EnrollmentState.CANCELLED, updated_at=now)
        ).rowcount
    )


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
