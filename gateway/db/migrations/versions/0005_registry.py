"""registry: applied registry events and bulk-verification runs

Revision ID: 0005_registry
Revises: 0004_payments
Create Date: 2026-11-22 19:27:12.573161
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005_registry"
down_revision = "0004_payments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_verify_run",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("programme_code", sa.String(length=40), nullable=True),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column(
            "counts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'finished', 'interrupted', 'failed')",
            name=op.f("ck_registry_verify_run_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_verify_run")),
    )
    with op.batch_alter_table("registry_verify_run", schema=None) as batch_op:
        batch_op.create_index("ix_registry_verify_run_status", ["status"], unique=False)

    op.create_table(
        "registry_event",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("event_key", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("inbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('death', 'reissue', 'move')", name=op.f("ck_registry_event_kind")
        ),
        sa.CheckConstraint(
            "outcome IN ('applied', 'unknown_person', 'ignored')",
            name=op.f("ck_registry_event_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["inbox_id"],
            ["inbox_message.id"],
            name=op.f("fk_registry_event_inbox_id_inbox_message"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_registry_event_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_event")),
        sa.UniqueConstraint("source", "event_key", name=op.f("uq_registry_event_source_event_key")),
    )
    with op.batch_alter_table("registry_event", schema=None) as batch_op:
        batch_op.create_index("ix_registry_event_person", ["person_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("registry_event", schema=None) as batch_op:
        batch_op.drop_index("ix_registry_event_person")

    op.drop_table("registry_event")
    with op.batch_alter_table("registry_verify_run", schema=None) as batch_op:
        batch_op.drop_index("ix_registry_verify_run_status")

    op.drop_table("registry_verify_run")
