"""Intake: provincial lists become persons and proposed enrollments, or quarantined rows.

Every source — a CSV or XLSX file, a page of a province's REST API, rows posted to our API —
goes through its mapping (``mappings/``) and the canonical validator, then the checks that need
the database. Rows stream through one transaction: memory does not grow with the list, a crash
or a rejected file leaves nothing half-written, and the same version of a list is imported once.
A corrected version supersedes the earlier one. Nothing is dropped: a row either becomes an
enrollment or is kept in quarantine with every problem found in it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, select

from adapters.welfare.port import ListFile, Table
from gateway.db.tables import import_batch, programme
from gateway.errors import problem
from gateway.security.principal import Actor
from gateway.services import quarantine, screen_intake
from gateway.services.catalogue import load_catalogue
from gateway.services.context import Services
from gateway.services.intake_batches import (
    ImportSummary,
    ListMeta,
    already_imported,
    finish,
    new_batch,
    record_rejection,
    supersede,
)
from gateway.services.intake_check import RowChecker, Stream
from gateway.services.intake_chunk import Chunk, RowSource, Target
from gateway.services.intake_writer import ChunkWriter
from mappings import compiled, engine
from mappings.errors import FileRejected

QUARANTINE_PURPOSE = quarantine.PURPOSE
__all__ = [
    "ImportSummary",
    "ListMeta",
    "content_hash",
    "import_file",
    "import_rows",
    "programme_id",
    "run_import",
]
CHUNK_ROWS = 5_000  # rows written per set of statements; memory is bounded by it


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
        import_id = record_rejection(svc, actor, meta, exc)
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
        done = already_imported(conn, meta)
        if done is not None:
            return done
        previous = list(
            conn.execute(
                select(import_batch.c.id).where(
                    import_batch.c.source_key == meta.source_key, import_batch.c.status == "done"
                )
            ).scalars()
        )
        import_id = new_batch(conn, actor, meta, prog.id, previous, now)
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
            summary.superseded = supersede(conn, previous, import_id, actor, now)
        screen_intake.at_intake(
            conn, prog.id, meta.period, import_id, now, no_pid_units=writer.no_pid_units
        )
        summary.flagged = screen_intake.flagged(conn, import_id)
        finish(conn, svc, actor, meta, summary)
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
