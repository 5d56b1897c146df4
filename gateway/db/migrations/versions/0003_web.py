"""officer workspace: QR token uses, rate-limit windows, case-queue indexes

Revision ID: 0003_web
Revises: 0002_intake
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_web"
down_revision = "0002_intake"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "qr_token_use",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("jti", sa.String(length=32), nullable=False),
        sa.Column("enrollment_id", ID, nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("evidence_ref", sa.String(length=120), nullable=True),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'paid', 'cancelled', 'failed')",
            name=op.f("ck_qr_token_use_status"),
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollment.id"],
            name=op.f("fk_qr_token_use_enrollment_id_enrollment"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qr_token_use")),
        sa.UniqueConstraint("jti", name=op.f("uq_qr_token_use_jti")),
    )
    op.create_index("ix_qr_token_use_enrollment", "qr_token_use", ["enrollment_id"], unique=False)
    op.create_table(
        "rate_limit_window",
        sa.Column("bucket", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.Integer(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "window_start", name=op.f("pk_rate_limit_window")),
    )
    op.create_index(
        "ix_rate_limit_window_start", "rate_limit_window", ["window_start"], unique=False
    )
    op.create_index(
        "ix_mismatch_case_age", "mismatch_case", ["status", "opened_at", "id"], unique=False
    )
    op.create_index(
        "ix_mismatch_case_type_age",
        "mismatch_case",
        ["status", "type", "opened_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_mismatch_case_type_age", table_name="mismatch_case")
    op.drop_index("ix_mismatch_case_age", table_name="mismatch_case")
    op.drop_index("ix_rate_limit_window_start", table_name="rate_limit_window")
    op.drop_table("rate_limit_window")
    op.drop_index("ix_qr_token_use_enrollment", table_name="qr_token_use")
    op.drop_table("qr_token_use")
