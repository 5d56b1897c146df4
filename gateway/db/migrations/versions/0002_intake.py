"""intake: quarantine rows know where they came from, whose scope they are in, how they closed

Revision ID: 0002_intake
Revises: 0001_canonical_model
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_intake"
down_revision = "0001_canonical_model"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("quarantine_row", schema=None) as batch_op:
        batch_op.add_column(sa.Column("location", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("source_ref", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("unit_id", ID, nullable=True))
        batch_op.add_column(sa.Column("resolution", sa.Text(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_quarantine_row_unit_id_admin_unit"), "admin_unit", ["unit_id"], ["id"]
        )
        batch_op.create_index(batch_op.f("ix_quarantine_row_unit"), ["unit_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("quarantine_row", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quarantine_row_unit"))
        batch_op.drop_constraint(
            batch_op.f("fk_quarantine_row_unit_id_admin_unit"), type_="foreignkey"
        )
        batch_op.drop_column("resolution")
        batch_op.drop_column("unit_id")
        batch_op.drop_column("source_ref")
        batch_op.drop_column("location")
