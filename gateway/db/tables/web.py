"""Doorstep QR token uses and the public lookup's rate-limit windows (officer workspace area)."""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from gateway.db.tables._base import ID, created_at, metadata, pk
from gateway.db.tables.cases import mismatch_case

# One row per QR token that an officer acted on. ``jti`` is unique: a token is paid or
# cancelled once, whoever scans it and however often the form is sent.
qr_token_use = Table(
    "qr_token_use",
    metadata,
    pk(),
    Column("jti", String(32), nullable=False, unique=True),
    Column("enrollment_id", ID, ForeignKey("enrollment.id"), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("status", String(10), nullable=False),  # pending | paid | cancelled | failed
    Column("attempts", Integer, nullable=False, default=1),
    Column("result", String(32)),  # what the confirmation service answered
    Column("reason", Text),
    Column("evidence_ref", String(120)),
    Column("actor", String(80), nullable=False),
    created_at(),
    Column("updated_at", DateTime(timezone=True)),
    CheckConstraint("status IN ('pending', 'paid', 'cancelled', 'failed')", name="status"),
    Index("ix_qr_token_use_enrollment", "enrollment_id"),
)

# Fixed-window counters per client (an HMAC of the address, never the address itself), in the
# database so that every replica enforces the same limit.
rate_limit_window = Table(
    "rate_limit_window",
    metadata,
    Column("bucket", String(64), primary_key=True),
    Column("window_start", Integer, primary_key=True),
    Column("hits", Integer, nullable=False),
    Index("ix_rate_limit_window_start", "window_start"),
)

# The case queue pages in (opened_at, id) order, keyset-style; these let the first page of a
# filtered queue come from an index walk instead of sorting every open case.
Index(
    "ix_mismatch_case_age",
    mismatch_case.c.status,
    mismatch_case.c.opened_at,
    mismatch_case.c.id,
)
Index(
    "ix_mismatch_case_type_age",
    mismatch_case.c.status,
    mismatch_case.c.type,
    mismatch_case.c.opened_at,
    mismatch_case.c.id,
)
