"""Intake, enrollments with their transition history, screening flags and the tick ledger."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from gateway.db.tables._base import ID, Json, Money, created_at, metadata, pk

# One received list (file, API page run, fake source). The same content for the same source key is
# imported once; a corrected version supersedes the previous one.
import_batch = Table(
    "import_batch",
    metadata,
    pk(),
    Column("source_key", String(200), nullable=False),
    Column("source_kind", String(12), nullable=False),  # csv | xlsx | rest | fake
    Column("filename", String(255)),
    Column("mapping", String(120), nullable=False),
    Column("programme_id", ID, ForeignKey("programme.id"), nullable=False),
    Column("period", String(7), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("supersedes_id", ID, ForeignKey("import_batch.id")),
    Column("status", String(12), nullable=False),  # running | done | rejected | superseded
    Column("counts", Json, nullable=False, default=dict),
    Column("error", Text),
    Column("actor", String(80), nullable=False),
    created_at(),
    Column("finished_at", DateTime(timezone=True)),
    UniqueConstraint("source_key", "content_hash"),
)

# A rejected row is kept whole (encrypted: it holds ID numbers) with every problem found in it.
quarantine_row = Table(
    "quarantine_row",
    metadata,
    pk(),
    Column("import_id", ID, ForeignKey("import_batch.id"), nullable=False),
    Column("row_number", Integer, nullable=False),
    Column("raw_enc", LargeBinary, nullable=False),
    Column(
        "problems", Json, nullable=False
    ),  # [{field, rule, value (masked), message, message_vi}]
    Column("status", String(12), nullable=False, default="open"),  # open | replayed | discarded
    created_at(),
    Column("resolved_at", DateTime(timezone=True)),
    Column("resolved_by", String(80)),
    Column("enrollment_id", ID, ForeignKey("enrollment.id")),
    # added by 0002_intake: where the row was, whose scope it is in, how it was closed
    Column("location", String(120)),  # "line 12", "sheet 'Phường X', row 9", "item 5"
    Column("source_ref", String(80)),
    Column("unit_id", ID, ForeignKey("admin_unit.id")),
    Column("resolution", Text),
    UniqueConstraint("import_id", "row_number"),
    Index("ix_quarantine_row_status", "status"),
    Index("ix_quarantine_row_unit", "unit_id"),
)

# The entitlement: one person, one programme, one period. The unique key is the first line of
# "money moves at most once".
enrollment = Table(
    "enrollment",
    metadata,
    pk(),
    Column("programme_id", ID, ForeignKey("programme.id"), nullable=False),
    Column("period", String(7), nullable=False),  # YYYY-MM, or ONCE for one-off packages
    Column("person_id", ID, ForeignKey("person.id"), nullable=False),
    Column("unit_id", ID, ForeignKey("admin_unit.id"), nullable=False),
    Column("coefficient_milli", Integer),
    Column("amount", Money, nullable=False),
    Column("state", String(12), nullable=False),
    Column("channel", String(12), nullable=False),
    Column("payee_account_id", ID, ForeignKey("payee_account.id")),
    Column("import_id", ID, ForeignKey("import_batch.id")),
    Column("source_row", Integer),
    Column("source_ref", String(80)),
    Column("decision_ref", String(80)),
    created_at(),
    Column("updated_at", DateTime(timezone=True)),
    UniqueConstraint("programme_id", "period", "person_id"),
    Index("ix_enrollment_state_unit", "state", "unit_id"),
    # replaces ix_enrollment_person (0006_recon): who has several enrollments in a period
    Index("ix_enrollment_person_period", "person_id", "period"),
    Index("ix_enrollment_import", "import_id"),
    # incremental reconciliation: what changed since the last run (0006_recon)
    Index("ix_enrollment_updated_at", "updated_at"),
    Index("ix_enrollment_created_at", "created_at"),
)

enrollment_transition = Table(
    "enrollment_transition",
    metadata,
    pk(),
    Column("enrollment_id", ID, ForeignKey("enrollment.id"), nullable=False),
    Column("from_state", String(12)),
    Column("to_state", String(12), nullable=False),
    Column("actor", String(80), nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_enrollment_transition_enrollment", "enrollment_id"),
)

flag = Table(
    "flag",
    metadata,
    pk(),
    Column("enrollment_id", ID, ForeignKey("enrollment.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("detail_key", String(80), nullable=False, default=""),
    Column("detail", Json, nullable=False, default=dict),
    Column("status", String(12), nullable=False, default="open"),  # open | overridden | resolved
    created_at(),
    Column("closed_at", DateTime(timezone=True)),
    Column("closed_by", String(80)),
    Column("reason", Text),
    UniqueConstraint("enrollment_id", "kind", "detail_key"),
    Index("ix_flag_status_kind", "status", "kind"),
)

UNOWNED_TICK = "state = 'active' AND (source <> 'local' OR payment_ref IS NULL)"

# The tick ledger: one active tick per person, exclusion group and period, whoever paid.
tick = Table(
    "tick",
    metadata,
    pk(),
    Column("person_id", ID, ForeignKey("person.id"), nullable=False),
    Column("exclusion_group", String(40), nullable=False),
    Column("period", String(7), nullable=False),
    Column("unit_id", ID, ForeignKey("admin_unit.id")),
    Column("programme_code", String(40), nullable=False),
    Column("payment_ref", String(64)),
    Column("source", String(12), nullable=False),  # local | registry
    Column("state", String(10), nullable=False, default="active"),  # active | withdrawn
    created_at(),
    Column("withdrawn_at", DateTime(timezone=True)),
    Column("withdraw_reason", Text),
    Index(
        "uq_tick_active",
        "person_id",
        "exclusion_group",
        "period",
        unique=True,
        sqlite_where=text("state = 'active'"),
        postgresql_where=text("state = 'active'"),
    ),
    Index("ix_tick_created_at", "created_at"),  # 0006_recon
    # ticks not made by a local payment: the only ones that can be someone else's (0006_recon)
    Index(
        "ix_tick_unowned",
        "person_id",
        sqlite_where=text(UNOWNED_TICK),
        postgresql_where=text(UNOWNED_TICK),
    ),
    Index("ix_tick_withdrawn_at", "withdrawn_at"),
)

registry_verification = Table(
    "registry_verification",
    metadata,
    pk(),
    Column("person_id", ID, ForeignKey("person.id"), nullable=False),
    Column("enrollment_id", ID, ForeignKey("enrollment.id")),
    Column(
        "outcome", String(16), nullable=False
    ),  # match | mismatch | not_found | deceased | error
    Column("fields", Json, nullable=False, default=dict),  # {name: exact|diacritics|..., ...}
    Column("vital_status", String(10)),
    Column("error_code", String(64)),
    Column("source", String(16), nullable=False),
    Column("checked_at", DateTime(timezone=True), nullable=False),
    Index("ix_registry_verification_enrollment", "enrollment_id"),
    Index("ix_registry_verification_person", "person_id"),
    Index("ix_registry_verification_checked_at", "checked_at"),  # 0006_recon
    Index("ix_registry_verification_outcome", "outcome"),
)
