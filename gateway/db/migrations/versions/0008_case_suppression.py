"""case suppression: resolved cases looked up by (type, dedup_key)

A reconciliation run does not reopen a finding an officer resolved for good (a false positive, or
any resolution of a finding read from a stored confirmation — gateway.services.cases). That
check is a NOT EXISTS per finding against the resolved cases: a partial index keeps it a probe.

Revision ID: 0008_case_suppression
Revises: 0007_stats
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_case_suppression"
down_revision = "0007_stats"
branch_labels = None
depends_on = None

WHERE = "status = 'resolved'"


def upgrade() -> None:
    with op.batch_alter_table("mismatch_case", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mismatch_case_resolved",
            ["type", "dedup_key"],
            unique=False,
            sqlite_where=sa.text(WHERE),
            postgresql_where=sa.text(WHERE),
        )


def downgrade() -> None:
    with op.batch_alter_table("mismatch_case", schema=None) as batch_op:
        batch_op.drop_index("ix_mismatch_case_resolved")
