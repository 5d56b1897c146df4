"""Inbox (every message received, stored once before it is applied) and outbox."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from gateway.db.tables._base import Json, created_at, metadata, pk

inbox_message = Table(
    "inbox_message",
    metadata,
    pk(),
    Column("source", String(32), nullable=False),
    Column("message_id", String(128), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("body_enc", LargeBinary, nullable=False),  # raw bytes as received, encrypted (evidence)
    Column("headers", Json, nullable=False, default=dict),
    Column("status", String(12), nullable=False),  # received | applied | rejected | failed
    Column("error_code", String(64)),
    Column("error_detail", Text),
    Column("response", Json),  # the answer given, replayed for an identical resend
    Column("attempts", Integer, nullable=False, default=0),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("applied_at", DateTime(timezone=True)),
    UniqueConstraint("source", "message_id"),
    Index("ix_inbox_message_status", "status"),
)

outbox_message = Table(
    "outbox_message",
    metadata,
    pk(),
    Column("topic", String(40), nullable=False),
    Column("dedup_key", String(160), nullable=False),
    Column("payload", Json, nullable=False),
    Column("status", String(10), nullable=False, default="pending"),  # pending | sent | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text),
    created_at(),
    Column("sent_at", DateTime(timezone=True)),
    UniqueConstraint("topic", "dedup_key"),
    Index("ix_outbox_message_due", "status", "next_attempt_at"),
)
