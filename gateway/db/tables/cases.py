"""Reconciliation runs and the mismatch cases officers work through."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Index, String, Table, Text, text

from gateway.db.tables._base import ID, Json, created_at, metadata, pk

recon_run = Table(
    "recon_run",
    metadata,
    pk(),
    Column("kind", String(12), nullable=False),  # full | incremental
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("watermark", String(40)),
    Column("counts", Json, nullable=False, default=dict),
    Column("outcome", String(12), nullable=False, default="running"),
    Column("error", Text),
)

# A re-run never duplicates an open case: (type, dedup_key) is unique among open cases.
mismatch_case = Table(
    "mismatch_case",
    metadata,
    pk(),
    Column("type", String(32), nullable=False),
    Column("dedup_key", String(160), nullable=False),
    Column("status", String(10), nullable=False, default="open"),  # open | resolved | closed
    # the subject keeps its foreign key; unit, programme and person (copied from the enrollment
    # for the queue index) and the instruction are evidence written by reconciliation from the
    # rows it joined — no per-row foreign-key triggers (migration 0009, docs/reconciliation.md)
    Column("unit_id", ID),
    Column("programme_id", ID),
    Column("period", String(7)),
    Column("person_id", ID),
    Column("enrollment_id", ID, ForeignKey("enrollment.id")),
    Column("instruction_id", ID),
    Column("evidence", Json, nullable=False, default=dict),
    Column("assignee_id", ID, ForeignKey("app_user.id")),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("resolution", String(32)),
    Column("resolution_reason", Text),
    # run ids are bookkeeping written by the run itself: no foreign key, so touching every open
    # case per run is a HOT update without a referential check per row (0006_recon)
    Column("opened_run_id", ID),
    Column("last_seen_run_id", ID),
    Index(
        "uq_mismatch_case_open",
        "type",
        "dedup_key",
        unique=True,
        sqlite_where=text("status = 'open'"),
        postgresql_where=text("status = 'open'"),
    ),
    Index("ix_mismatch_case_queue", "status", "unit_id", "type", "opened_at"),
    Index("ix_mismatch_case_enrollment", "enrollment_id"),  # 0006_recon: incremental closing
    # a run probes the resolved cases so it never reopens what stays resolved (0008)
    Index(
        "ix_mismatch_case_resolved",
        "type",
        "dedup_key",
        sqlite_where=text("status = 'resolved'"),
        postgresql_where=text("status = 'resolved'"),
    ),
    # room in every page for the next run's touch of each open case (HOT updates; 0006_recon)
    postgresql_with={"fillfactor": 50},
)

case_action = Table(
    "case_action",
    metadata,
    pk(),
    Column("case_id", ID, ForeignKey("mismatch_case.id"), nullable=False),
    Column("action", String(32), nullable=False),
    Column("actor", String(80), nullable=False),
    Column("reason", Text, nullable=False),
    Column("evidence", Json, nullable=False, default=dict),
    created_at(),
    Index("ix_case_action_case", "case_id"),
)
