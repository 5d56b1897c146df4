"""recon: indexes for set-based and incremental reconciliation

The incremental run finds what changed since its watermark through one index per timestamp;
the full run reaches the rare anomalies (confirmation results, deceased persons, registry
outcomes) through an index instead of a scan of millions of rows.

Revision ID: 0006_recon
Revises: 0005_registry
Create Date: 2026-11-22 22:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_recon"
down_revision = "0005_registry"
branch_labels = None
depends_on = None

RUN_FKS = (
    "fk_mismatch_case_opened_run_id_recon_run",
    "fk_mismatch_case_last_seen_run_id_recon_run",
)
# (table, index, columns, partial WHERE or None) — mirrored in gateway/db/tables
INDEXES: list[tuple[str, str, list[str], str | None]] = [
    ("enrollment", "ix_enrollment_updated_at", ["updated_at"], None),
    ("enrollment", "ix_enrollment_created_at", ["created_at"], None),
    ("payment_instruction", "ix_payment_instruction_state_changed_at", ["state_changed_at"], None),
    ("payment_instruction", "ix_payment_instruction_created_at", ["created_at"], None),
    ("confirmation", "ix_confirmation_received_at", ["received_at"], None),
    ("confirmation", "ix_confirmation_apply_result", ["apply_result"], None),
    ("tick", "ix_tick_created_at", ["created_at"], None),
    ("tick", "ix_tick_withdrawn_at", ["withdrawn_at"], None),
    ("registry_verification", "ix_registry_verification_checked_at", ["checked_at"], None),
    ("registry_verification", "ix_registry_verification_outcome", ["outcome"], None),
    ("person", "ix_person_updated_at", ["updated_at"], None),
    ("person", "ix_person_deceased", ["id"], "vital_status = 'deceased'"),
    ("mismatch_case", "ix_mismatch_case_enrollment", ["enrollment_id"], None),
    ("enrollment", "ix_enrollment_person_period", ["person_id", "period"], None),
    (
        "tick",
        "ix_tick_unowned",
        ["person_id"],
        "state = 'active' AND (source <> 'local' OR payment_ref IS NULL)",
    ),
]


def upgrade() -> None:
    # run ids on cases are bookkeeping written by the run itself; without the foreign keys and
    # with free room in each page, touching every open case per run is a HOT update
    with op.batch_alter_table("mismatch_case", schema=None) as batch_op:
        for fk in RUN_FKS:
            batch_op.drop_constraint(fk, type_="foreignkey")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE mismatch_case SET (fillfactor = 50)")
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.drop_index("ix_enrollment_person")  # ix_enrollment_person_period leads with it
    for table, name, columns, where in INDEXES:
        partial = (
            {}
            if where is None
            else {
                "sqlite_where": sa.text(where),
                "postgresql_where": sa.text(where),
            }
        )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(name, columns, unique=False, **partial)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE mismatch_case RESET (fillfactor)")
    with op.batch_alter_table("mismatch_case", schema=None) as batch_op:
        for fk, column in zip(RUN_FKS, ("opened_run_id", "last_seen_run_id"), strict=True):
            batch_op.create_foreign_key(fk, "recon_run", [column], ["id"])
    for table, name, _columns, _where in reversed(INDEXES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.create_index("ix_enrollment_person", ["person_id"], unique=False)
