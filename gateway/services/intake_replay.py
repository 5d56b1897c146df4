"""Replaying a corrected quarantined row: the same checks, the same writer, the same screening
as at intake, inside the caller's transaction (``quarantine.replay``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from gateway.db.tables import enrollment, import_batch, programme
from gateway.security.principal import Actor
from gateway.services import quarantine, screen_intake
from gateway.services.catalogue import load_catalogue
from gateway.services.context import Services
from gateway.services.intake_check import RowChecker
from gateway.services.intake_chunk import Chunk, RowSource, Target
from gateway.services.intake_writer import ChunkWriter


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
