"""Registry events applied (change feed and notifications) and bulk-verification runs."""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from gateway.db.tables._base import ID, Json, metadata, pk

# One row per registry event the gateway acted on: a change-feed entry (source "feed:<registry>",
# key = the feed cursor) or a pushed notification (source "notify:<sender>", key = the event's
# reference id). The unique key makes applying an event twice impossible; the detail never holds
# an ID number in clear (the new number of a re-issue lives encrypted in person_identifier).
registry_event = Table(
    "registry_event",
    metadata,
    pk(),
    Column("source", String(64), nullable=False),
    Column("event_key", String(128), nullable=False),
    Column("kind", String(12), nullable=False),
    Column("person_id", ID, ForeignKey("person.id")),
    Column("inbox_id", ID, ForeignKey("inbox_message.id")),
    Column("outcome", String(16), nullable=False),  # applied | unknown_person | ignored
    Column("detail", Json, nullable=False, default=dict),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("applied_at", DateTime(timezone=True)),
    UniqueConstraint("source", "event_key"),
    CheckConstraint("kind IN ('death', 'reissue', 'move')", name="kind"),
    CheckConstraint("outcome IN ('applied', 'unknown_person', 'ignored')", name="outcome"),
    Index("ix_registry_event_person", "person_id"),
)

# A bulk verification run. A run found still "running" when the next one starts was cut short
# (crash, kill): it is marked "interrupted" and the new run resumes where the database says the
# work stands — persons already verified are never sent again.
registry_verify_run = Table(
    "registry_verify_run",
    metadata,
    pk(),
    Column("programme_code", String(40)),
    Column("actor", String(80), nullable=False),
    Column("status", String(12), nullable=False),
    Column("counts", Json, nullable=False, default=dict),
    Column("error", Text),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    CheckConstraint("status IN ('running', 'finished', 'interrupted', 'failed')", name="status"),
    Index("ix_registry_verify_run_status", "status"),
)
