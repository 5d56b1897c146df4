"""Evidence of inbound payment messages we refused: kept, never applied, never silently dropped.

A refused message must not take the inbox slot of its (source, message id) — a forged or broken
copy would then block the genuine one — so refusals live here, one row per attempt, with the
distinct reason code and the raw bytes encrypted like the inbox.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Index, LargeBinary, String, Table, Text

from gateway.db.tables._base import ID, Json, metadata, pk

inbound_rejection = Table(
    "inbound_rejection",
    metadata,
    pk(),
    Column("channel", String(12), nullable=False),  # bank | postoffice
    Column("source", String(64), nullable=False),  # who sent it, as far as we could tell
    Column("kind", String(32), nullable=False),  # on-disburse | camt.053 | return-file | …
    Column("code", String(64), nullable=False),  # err.signature.expired | file.xsd.invalid | …
    Column("message", Text, nullable=False),
    Column("message_id", String(128)),
    Column("reference", String(64)),  # item-level refusals (rjct.reference_id.duplicate)
    Column("inbox_id", ID, ForeignKey("inbox_message.id")),
    Column("content_hash", String(64), nullable=False),
    Column("body_enc", LargeBinary, nullable=False),
    Column("headers", Json, nullable=False, default=dict),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("ix_inbound_rejection_code", "code"),
    Index("ix_inbound_rejection_received_at", "received_at"),
)
