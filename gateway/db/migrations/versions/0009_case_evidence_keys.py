"""case evidence keys: a case's copied references are evidence, not foreign keys

A mismatch case keeps a real foreign key to its subject, the enrollment. Its other references —
the person, programme and admin unit copied from that enrollment (for the officers' queue index)
and the payment instruction — are evidence written by reconciliation from rows it has just
joined in the same transaction. Their foreign keys cost more than half of opening a case on
PostgreSQL (each row fires one RI trigger per key, taking a key-share lock on a row of each
parent: 1.1 s of 3.2 s for 114,000 cases without them, measured on the 1M benchmark), which made
a city's first reconciliation miss its time. Nothing is lost: no code deletes persons,
programmes, units or instructions, and the first three are themselves held by the enrollment's
own foreign keys (docs/reconciliation.md, "Foreign keys").

Revision ID: 0009_case_evidence_keys
Revises: 0008_case_suppression
Create Date: 2026-11-23 00:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0009_case_evidence_keys"
down_revision = "0008_case_suppression"
branch_labels = None
depends_on = None

# (constraint, column, referred table) — the enrollment and assignee keys stay
EVIDENCE_FKS = (
    ("fk_mismatch_case_unit_id_admin_unit", "unit_id", "admin_unit"),
    ("fk_mismatch_case_programme_id_programme", "programme_id", "programme"),
    ("fk_mismatch_case_person_id_person", "person_id", "person"),
    (
        "fk_mismatch_case_instruction_id_payment_instruction",
        "instruction_id",
        "payment_instruction",
    ),
)


def upgrade() -> None:
    with op.batch_alter_table("mismatch_case", schema=None) as batch_op:
        for name, _column, _table in EVIDENCE_FKS:
            batch_op.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("mismatch_case", schema=None) as batch_op:
        for name, column, table in EVIDENCE_FKS:
            batch_op.create_foreign_key(name, table, [column], ["id"])
