"""stats: daily statistics snapshots per admin unit, programme and period

Revision ID: 0007_stats
Revises: 0006_recon
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_stats"
down_revision = "0006_recon"
branch_labels = None
depends_on = None

MEASURES = (
    "records",
    "proposed",
    "verified",
    "rejected",
    "cancelled",
    "suspended",
    "approved",
    "approved_amount",
    "paid",
    "paid_amount",
    "unpaid",
    "unpaid_amount",
    "bank",
    "bank_amount",
    "postoffice",
    "postoffice_amount",
    "paid_account",
    "paid_account_amount",
    "paid_cash",
    "paid_cash_amount",
    "account_verified",
    "reg_matched",
    "reg_corrected",
    "reg_unmatched",
    "reg_deceased",
    "reg_unchecked",
)


def _dimensions() -> list[sa.Column]:
    return [
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("scheme", sa.String(length=16), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("programme_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "stats_snapshot",
        *_dimensions(),
        *(sa.Column(m, sa.BigInteger(), nullable=False) for m in MEASURES),
        sa.UniqueConstraint(
            "day",
            "unit_id",
            "programme_id",
            "period",
            name=op.f("uq_stats_snapshot_day_unit_id_programme_id_period"),
        ),
    )
    with op.batch_alter_table("stats_snapshot", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stats_snapshot_children",
            ["day", "parent_id", "programme_id", "period"],
            unique=False,
        )
    op.create_table(
        "stats_snapshot_case",
        *_dimensions(),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("open_cases", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint(
            "day",
            "unit_id",
            "programme_id",
            "period",
            "type",
            name=op.f("uq_stats_snapshot_case_day_unit_id_programme_id_period_type"),
        ),
    )


def downgrade() -> None:
    op.drop_table("stats_snapshot_case")
    with op.batch_alter_table("stats_snapshot", schema=None) as batch_op:
        batch_op.drop_index("ix_stats_snapshot_children")
    op.drop_table("stats_snapshot")
