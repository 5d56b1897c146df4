"""Operations: accounts and tokens, the hash-chained audit trail, job runs and locks."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from gateway.db.tables._base import ID, Json, created_at, metadata, pk

app_user = Table(
    "app_user",
    metadata,
    pk(),
    Column("username", String(80), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("password_hash", String(255)),
    Column("role", String(24), nullable=False),
    Column("unit_id", ID, ForeignKey("admin_unit.id")),  # NULL only for national roles
    Column("active", Boolean, nullable=False, default=True),
    created_at(),
)

# Tokens are random 256-bit values; only their SHA-256 is stored.
api_token = Table(
    "api_token",
    metadata,
    pk(),
    Column("user_id", ID, ForeignKey("app_user.id"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("name", String(80), nullable=False),
    created_at(),
    Column("expires_at", DateTime(timezone=True)),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

# Append-only (database triggers forbid UPDATE and DELETE) and hash-chained.
audit_event = Table(
    "audit_event",
    metadata,
    pk(),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(80), nullable=False),
    Column("action", String(64), nullable=False),
    Column("entity", String(40), nullable=False),
    Column("entity_id", String(64)),
    Column("purpose", String(120), nullable=False),
    Column("detail", Json, nullable=False, default=dict),
    Column("prev_hash", String(64), nullable=False, unique=True),
    Column("hash", String(64), nullable=False, unique=True),
    Index("ix_audit_event_entity", "entity", "entity_id"),
)

# (job, trigger_key) is unique: however many scheduler replicas fire, one run per trigger.
job_run = Table(
    "job_run",
    metadata,
    pk(),
    Column("job", String(64), nullable=False),
    Column("trigger_key", String(64), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    # running | succeeded | failed | skipped | interrupted (left running by a dead replica)
    Column("outcome", String(12), nullable=False),
    Column("counts", Json, nullable=False, default=dict),
    Column("error", Text),
    Column("host", String(120)),
    UniqueConstraint("job", "trigger_key"),
    Index("ix_job_run_started", "started_at"),
)

job_lock = Table(
    "job_lock",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(120), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# Small named values: change-feed cursors, reconciliation watermarks.
kv_state = Table(
    "kv_state",
    metadata,
    Column("name", String(80), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
