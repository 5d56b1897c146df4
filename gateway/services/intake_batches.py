"""Lists as imports on record (``import_batch``): the same version imported once, a corrected
version superseding the earlier one, a refused file kept with why, the summary and the audit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, literal, select, update

from gateway.db.tables import enrollment, enrollment_transition, import_batch
from gateway.domain.states import EnrollmentState
from gateway.security.principal import Actor
from gateway.services import audit
from gateway.services.catalogue import load_catalogue
from gateway.services.context import Services
from mappings.errors import FileRejected


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


def already_imported(conn: Connection, meta: ListMeta) -> ImportSummary | None:
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


def finish(
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


def new_batch(
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


def record_rejection(svc: Services, actor: Actor, meta: ListMeta, exc: FileRejected) -> int:
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
        import_id = new_batch(conn, actor, meta, prog.id, [], now)
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


def supersede(
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
