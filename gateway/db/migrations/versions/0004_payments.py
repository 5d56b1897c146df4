"""payments: evidence of refused inbound messages; fingerprint of confirmation items

Revision ID: 0004_payments
Revises: 0003_web
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004_payments"
down_revision = "0003_web"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "inbound_rejection",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=128), nullable=True),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("inbox_id", ID, nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("body_enc", sa.LargeBinary(), nullable=False),
        sa.Column("headers", JSON, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbox_id"],
            ["inbox_message.id"],
            name=op.f("fk_inbound_rejection_inbox_id_inbox_message"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_rejection")),
    )
    with op.batch_alter_table("inbound_rejection", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_rejection_code", ["code"], unique=False)
        batch_op.create_index("ix_inbound_rejection_received_at", ["received_at"], unique=False)
    with op.batch_alter_table("confirmation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("item_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("confirmation", schema=None) as batch_op:
        batch_op.drop_column("item_hash")
    with op.batch_alter_table("inbound_rejection", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_rejection_received_at")
        batch_op.drop_index("ix_inbound_rejection_code")
    op.drop_table("inbound_rejection")
