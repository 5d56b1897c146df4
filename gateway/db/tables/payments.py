"""Payment batches, instructions and the confirmations received for them."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from gateway.db.tables._base import ID, Money, created_at, metadata, pk

payment_batch = Table(
    "payment_batch",
    metadata,
    pk(),
    Column("reference", String(64), nullable=False, unique=True),
    Column("channel", String(12), nullable=False),
    Column("programme_id", ID, ForeignKey("programme.id"), nullable=False),
    Column("period", String(7), nullable=False),
    Column("state", String(12), nullable=False),
    Column("total_count", Integer, nullable=False, default=0),
    Column("completed_count", Integer, nullable=False, default=0),
    Column("total_amount", Money, nullable=False, default=0),
    Column("actor", String(80), nullable=False),
    created_at(),
    Column("sent_at", DateTime(timezone=True)),
)

# The idempotency key is derived from (programme, period, person, attempt) — never a clock.
# At most one instruction per enrollment may be live or settled: a partial unique index, so a
# second payment cannot even be written while the first is pending or paid.
LIVE_STATES = ("created", "held", "sent", "accepted", "unknown", "settled")
LIVE_OR_SETTLED = "state IN ({})".format(", ".join(f"'{s}'" for s in LIVE_STATES))
payment_instruction = Table(
    "payment_instruction",
    metadata,
    pk(),
    Column("enrollment_id", ID, ForeignKey("enrollment.id"), nullable=False),
    Column("batch_id", ID, ForeignKey("payment_batch.id")),
    Column("attempt", SmallInteger, nullable=False, default=1),
    Column("replaces_id", ID, ForeignKey("payment_instruction.id")),
    Column("idempotency_key", String(120), nullable=False, unique=True),
    Column("reference", String(40), nullable=False, unique=True),
    Column("channel", String(12), nullable=False),
    Column("payee_account_id", ID, ForeignKey("payee_account.id")),
    Column("payout_unit_id", ID, ForeignKey("admin_unit.id")),
    Column("amount", Money, nullable=False),
    Column("state", String(12), nullable=False),
    Column("reason_code", String(40)),
    Column("reason_text", Text),
    Column("external_ref", String(80)),
    created_at(),
    Column("sent_at", DateTime(timezone=True)),
    Column("state_changed_at", DateTime(timezone=True)),
    Column("deadline_at", DateTime(timezone=True)),
    Column("settled_at", DateTime(timezone=True)),
    UniqueConstraint("enrollment_id", "attempt"),
    Index(
        "uq_payment_instruction_live",
        "enrollment_id",
        unique=True,
        sqlite_where=text(LIVE_OR_SETTLED),
        postgresql_where=text(LIVE_OR_SETTLED),
    ),
    Index("ix_payment_instruction_state", "state"),
    Index("ix_payment_instruction_batch", "batch_id"),
    Index("ix_payment_instruction_state_changed_at", "state_changed_at"),  # 0006_recon
    Index("ix_payment_instruction_created_at", "created_at"),
)

# One row per item a channel reported (a callback item, a statement entry, a return-file line).
# (source, item_key) is unique: a duplicated statement line or callback is stored once.
confirmation = Table(
    "confirmation",
    metadata,
    pk(),
    Column("inbox_id", ID, ForeignKey("inbox_message.id")),
    Column("instruction_id", ID, ForeignKey("payment_instruction.id")),
    Column("reference", String(64), nullable=False),
    Column("source", String(32), nullable=False),
    Column("item_key", String(160), nullable=False),
    Column(
        "outcome", String(12), nullable=False
    ),  # settled | rejected | returned | pending | unpaid
    Column("amount", Money),
    Column("reason_code", String(40)),
    Column("raw_status", String(40)),
    Column("counter_pid_index", LargeBinary(16)),  # ID recorded at the post-office counter
    Column("evidence_ref", String(120)),
    Column("occurred_at", DateTime(timezone=True)),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("applied_at", DateTime(timezone=True)),
    Column("apply_result", String(24)),
    # fingerprint of what the item said: same key + other fingerprint = a modified report
    Column("item_hash", String(64)),  # added by migration 0004_payments
    UniqueConstraint("source", "item_key"),
    Index("ix_confirmation_instruction", "instruction_id"),
    Index("ix_confirmation_reference", "reference"),
    Index("ix_confirmation_received_at", "received_at"),  # 0006_recon
    Index("ix_confirmation_apply_result", "apply_result"),
)
