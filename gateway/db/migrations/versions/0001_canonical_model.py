"""canonical model

Revision ID: 0001_canonical_model
Revises:
Create Date: 2026-11-22 18:44:10.301016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001_canonical_model"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "admin_scheme",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("levels", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("data_version", sa.String(length=40), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_admin_scheme")),
    )
    op.create_table(
        "audit_event",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=True),
        sa.Column("purpose", sa.String(length=120), nullable=False),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_event_hash")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_audit_event_prev_hash")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index("ix_audit_event_entity", ["entity", "entity_id"], unique=False)

    op.create_table(
        "exclusion_group",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name_vi", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("policy", sa.String(length=20), nullable=False),
        sa.CheckConstraint(
            "policy IN ('highest_wins', 'one_only')", name=op.f("ck_exclusion_group_policy")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_exclusion_group")),
    )
    op.create_table(
        "inbox_message",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=128), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("body_enc", sa.LargeBinary(), nullable=False),
        sa.Column(
            "headers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column(
            "response",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_message")),
        sa.UniqueConstraint(
            "source", "message_id", name=op.f("uq_inbox_message_source_message_id")
        ),
    )
    with op.batch_alter_table("inbox_message", schema=None) as batch_op:
        batch_op.create_index("ix_inbox_message_status", ["status"], unique=False)

    op.create_table(
        "job_lock",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=120), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_lock")),
    )
    op.create_table(
        "job_run",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("trigger_key", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        sa.Column(
            "counts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("host", sa.String(length=120), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_run")),
        sa.UniqueConstraint("job", "trigger_key", name=op.f("uq_job_run_job_trigger_key")),
    )
    with op.batch_alter_table("job_run", schema=None) as batch_op:
        batch_op.create_index("ix_job_run_started", ["started_at"], unique=False)

    op.create_table(
        "kv_state",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_kv_state")),
    )
    op.create_table(
        "outbox_message",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("topic", sa.String(length=40), nullable=False),
        sa.Column("dedup_key", sa.String(length=160), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_message")),
        sa.UniqueConstraint("topic", "dedup_key", name=op.f("uq_outbox_message_topic_dedup_key")),
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_message_due", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "recon_run",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("watermark", sa.String(length=40), nullable=True),
        sa.Column(
            "counts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_run")),
    )
    op.create_table(
        "standard_level",
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("legal_basis", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("effective_from", name=op.f("pk_standard_level")),
    )
    op.create_table(
        "admin_unit",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("scheme", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("unit_type", sa.String(length=40), nullable=True),
        sa.Column("parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("province_code", sa.String(length=4), nullable=False),
        sa.Column("path", sa.String(length=40), nullable=False),
        sa.CheckConstraint(
            "level IN ('province', 'district', 'commune')", name=op.f("ck_admin_unit_level")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["admin_unit.id"], name=op.f("fk_admin_unit_parent_id_admin_unit")
        ),
        sa.ForeignKeyConstraint(
            ["scheme"], ["admin_scheme.code"], name=op.f("fk_admin_unit_scheme_admin_scheme")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_unit")),
        sa.UniqueConstraint(
            "scheme", "level", "code", name=op.f("uq_admin_unit_scheme_level_code")
        ),
    )
    with op.batch_alter_table("admin_unit", schema=None) as batch_op:
        batch_op.create_index("ix_admin_unit_scheme_path", ["scheme", "path"], unique=False)

    op.create_table(
        "programme",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name_vi", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("legal_basis", sa.String(length=200), nullable=False),
        sa.Column("ministry", sa.String(length=80), nullable=True),
        sa.Column("periodicity", sa.String(length=10), nullable=False),
        sa.Column("amount_kind", sa.String(length=12), nullable=False),
        sa.Column("exclusion_group", sa.String(length=40), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "amount_kind IN ('fixed', 'coefficient')", name=op.f("ck_programme_amount_kind")
        ),
        sa.CheckConstraint(
            "periodicity IN ('monthly', 'one_off')", name=op.f("ck_programme_periodicity")
        ),
        sa.ForeignKeyConstraint(
            ["exclusion_group"],
            ["exclusion_group.code"],
            name=op.f("fk_programme_exclusion_group_exclusion_group"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme")),
        sa.UniqueConstraint("code", name=op.f("uq_programme_code")),
    )
    op.create_table(
        "admin_succession",
        sa.Column(
            "old_unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "new_unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("is_partial", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["new_unit_id"],
            ["admin_unit.id"],
            name=op.f("fk_admin_succession_new_unit_id_admin_unit"),
        ),
        sa.ForeignKeyConstraint(
            ["old_unit_id"],
            ["admin_unit.id"],
            name=op.f("fk_admin_succession_old_unit_id_admin_unit"),
        ),
        sa.PrimaryKeyConstraint("old_unit_id", "new_unit_id", name=op.f("pk_admin_succession")),
    )
    with op.batch_alter_table("admin_succession", schema=None) as batch_op:
        batch_op.create_index("ix_admin_succession_new", ["new_unit_id"], unique=False)

    op.create_table(
        "allowed_combination",
        sa.Column(
            "programme_a", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "programme_b", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "programme_a < programme_b", name=op.f("ck_allowed_combination_ordered_pair")
        ),
        sa.ForeignKeyConstraint(
            ["programme_a"],
            ["programme.id"],
            name=op.f("fk_allowed_combination_programme_a_programme"),
        ),
        sa.ForeignKeyConstraint(
            ["programme_b"],
            ["programme.id"],
            name=op.f("fk_allowed_combination_programme_b_programme"),
        ),
        sa.PrimaryKeyConstraint("programme_a", "programme_b", name=op.f("pk_allowed_combination")),
    )
    op.create_table(
        "amount_rule",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "programme_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("fixed_amount", sa.BigInteger(), nullable=True),
        sa.Column("coefficient_milli", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(fixed_amount IS NULL) <> (coefficient_milli IS NULL)",
            name=op.f("ck_amount_rule_fixed_xor_coefficient"),
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programme.id"], name=op.f("fk_amount_rule_programme_id_programme")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_amount_rule")),
        sa.UniqueConstraint(
            "programme_id",
            "effective_from",
            name=op.f("uq_amount_rule_programme_id_effective_from"),
        ),
    )
    op.create_table(
        "app_user",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("role", sa.String(length=24), nullable=False),
        sa.Column("unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["admin_unit.id"], name=op.f("fk_app_user_unit_id_admin_unit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("username", name=op.f("uq_app_user_username")),
    )
    op.create_table(
        "household",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column(
            "residence_unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("poverty_status", sa.String(length=12), nullable=True),
        sa.Column("poverty_year", sa.SmallInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["residence_unit_id"],
            ["admin_unit.id"],
            name=op.f("fk_household_residence_unit_id_admin_unit"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household")),
        sa.UniqueConstraint("code", name=op.f("uq_household_code")),
    )
    op.create_table(
        "import_batch",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_key", sa.String(length=200), nullable=False),
        sa.Column("source_kind", sa.String(length=12), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("mapping", sa.String(length=120), nullable=False),
        sa.Column(
            "programme_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "supersedes_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column(
            "counts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programme.id"], name=op.f("fk_import_batch_programme_id_programme")
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["import_batch.id"],
            name=op.f("fk_import_batch_supersedes_id_import_batch"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_batch")),
        sa.UniqueConstraint(
            "source_key", "content_hash", name=op.f("uq_import_batch_source_key_content_hash")
        ),
    )
    op.create_table(
        "payment_batch",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column(
            "programme_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("total_count", sa.Integer(), nullable=False),
        sa.Column("completed_count", sa.Integer(), nullable=False),
        sa.Column("total_amount", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programme.id"], name=op.f("fk_payment_batch_programme_id_programme")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_batch")),
        sa.UniqueConstraint("reference", name=op.f("uq_payment_batch_reference")),
    )
    op.create_table(
        "api_token",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_api_token_user_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    op.create_table(
        "person",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("pid_index", sa.LargeBinary(length=16), nullable=True),
        sa.Column("pid_enc", sa.LargeBinary(), nullable=True),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("birth_year", sa.SmallInteger(), nullable=True),
        sa.Column("birth_month", sa.SmallInteger(), nullable=True),
        sa.Column("birth_day", sa.SmallInteger(), nullable=True),
        sa.Column("gender", sa.String(length=1), nullable=True),
        sa.Column("vital_status", sa.String(length=10), nullable=False),
        sa.Column("death_date", sa.Date(), nullable=True),
        sa.Column(
            "residence_unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "household_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("registry_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "merged_into_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["household_id"], ["household.id"], name=op.f("fk_person_household_id_household")
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["person.id"], name=op.f("fk_person_merged_into_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["residence_unit_id"],
            ["admin_unit.id"],
            name=op.f("fk_person_residence_unit_id_admin_unit"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person")),
        sa.UniqueConstraint("pid_index", name=op.f("uq_person_pid_index")),
    )
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.create_index(
            "ix_person_name_key_birth_year", ["name_key", "birth_year"], unique=False
        )

    op.create_table(
        "payee_account",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("bin", sa.String(length=6), nullable=False),
        sa.Column("number_index", sa.LargeBinary(length=16), nullable=False),
        sa.Column("number_enc", sa.LargeBinary(), nullable=False),
        sa.Column("holder_name", sa.String(length=200), nullable=True),
        sa.Column("name_match", sa.String(length=12), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_payee_account_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payee_account")),
        sa.UniqueConstraint("bin", "number_index", name=op.f("uq_payee_account_bin_number_index")),
    )
    with op.batch_alter_table("payee_account", schema=None) as batch_op:
        batch_op.create_index("ix_payee_account_person", ["person_id"], unique=False)

    op.create_table(
        "person_identifier",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value_index", sa.LargeBinary(length=16), nullable=False),
        sa.Column("value_enc", sa.LargeBinary(), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_person_identifier_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_identifier")),
        sa.UniqueConstraint(
            "kind", "value_index", name=op.f("uq_person_identifier_kind_value_index")
        ),
    )
    with op.batch_alter_table("person_identifier", schema=None) as batch_op:
        batch_op.create_index("ix_person_identifier_person", ["person_id"], unique=False)

    op.create_table(
        "tick",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("exclusion_group", sa.String(length=40), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("programme_code", sa.String(length=40), nullable=False),
        sa.Column("payment_ref", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdraw_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_tick_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["admin_unit.id"], name=op.f("fk_tick_unit_id_admin_unit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tick")),
    )
    with op.batch_alter_table("tick", schema=None) as batch_op:
        batch_op.create_index(
            "uq_tick_active",
            ["person_id", "exclusion_group", "period"],
            unique=True,
            sqlite_where=sa.text("state = 'active'"),
            postgresql_where=sa.text("state = 'active'"),
        )

    op.create_table(
        "enrollment",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "programme_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("coefficient_milli", sa.Integer(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column(
            "payee_account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("import_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("source_row", sa.Integer(), nullable=True),
        sa.Column("source_ref", sa.String(length=80), nullable=True),
        sa.Column("decision_ref", sa.String(length=80), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["import_id"], ["import_batch.id"], name=op.f("fk_enrollment_import_id_import_batch")
        ),
        sa.ForeignKeyConstraint(
            ["payee_account_id"],
            ["payee_account.id"],
            name=op.f("fk_enrollment_payee_account_id_payee_account"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_enrollment_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programme.id"], name=op.f("fk_enrollment_programme_id_programme")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["admin_unit.id"], name=op.f("fk_enrollment_unit_id_admin_unit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollment")),
        sa.UniqueConstraint(
            "programme_id",
            "period",
            "person_id",
            name=op.f("uq_enrollment_programme_id_period_person_id"),
        ),
    )
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.create_index("ix_enrollment_import", ["import_id"], unique=False)
        batch_op.create_index("ix_enrollment_person", ["person_id"], unique=False)
        batch_op.create_index("ix_enrollment_state_unit", ["state", "unit_id"], unique=False)

    op.create_table(
        "enrollment_transition",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "enrollment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("from_state", sa.String(length=12), nullable=True),
        sa.Column("to_state", sa.String(length=12), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollment.id"],
            name=op.f("fk_enrollment_transition_enrollment_id_enrollment"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollment_transition")),
    )
    with op.batch_alter_table("enrollment_transition", schema=None) as batch_op:
        batch_op.create_index(
            "ix_enrollment_transition_enrollment", ["enrollment_id"], unique=False
        )

    op.create_table(
        "flag",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "enrollment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail_key", sa.String(length=80), nullable=False),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=80), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["enrollment_id"], ["enrollment.id"], name=op.f("fk_flag_enrollment_id_enrollment")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flag")),
        sa.UniqueConstraint(
            "enrollment_id",
            "kind",
            "detail_key",
            name=op.f("uq_flag_enrollment_id_kind_detail_key"),
        ),
    )
    with op.batch_alter_table("flag", schema=None) as batch_op:
        batch_op.create_index("ix_flag_status_kind", ["status", "kind"], unique=False)

    op.create_table(
        "payment_instruction",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "enrollment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("attempt", sa.SmallInteger(), nullable=False),
        sa.Column(
            "replaces_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("idempotency_key", sa.String(length=120), nullable=False),
        sa.Column("reference", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column(
            "payee_account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "payout_unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("reason_code", sa.String(length=40), nullable=True),
        sa.Column("reason_text", sa.Text(), nullable=True),
        sa.Column("external_ref", sa.String(length=80), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["payment_batch.id"],
            name=op.f("fk_payment_instruction_batch_id_payment_batch"),
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollment.id"],
            name=op.f("fk_payment_instruction_enrollment_id_enrollment"),
        ),
        sa.ForeignKeyConstraint(
            ["payee_account_id"],
            ["payee_account.id"],
            name=op.f("fk_payment_instruction_payee_account_id_payee_account"),
        ),
        sa.ForeignKeyConstraint(
            ["payout_unit_id"],
            ["admin_unit.id"],
            name=op.f("fk_payment_instruction_payout_unit_id_admin_unit"),
        ),
        sa.ForeignKeyConstraint(
            ["replaces_id"],
            ["payment_instruction.id"],
            name=op.f("fk_payment_instruction_replaces_id_payment_instruction"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_instruction")),
        sa.UniqueConstraint(
            "enrollment_id", "attempt", name=op.f("uq_payment_instruction_enrollment_id_attempt")
        ),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_payment_instruction_idempotency_key")),
        sa.UniqueConstraint("reference", name=op.f("uq_payment_instruction_reference")),
    )
    with op.batch_alter_table("payment_instruction", schema=None) as batch_op:
        batch_op.create_index("ix_payment_instruction_batch", ["batch_id"], unique=False)
        batch_op.create_index("ix_payment_instruction_state", ["state"], unique=False)
        batch_op.create_index(
            "uq_payment_instruction_live",
            ["enrollment_id"],
            unique=True,
            sqlite_where=sa.text(
                "state IN ('created', 'held', 'sent', 'accepted', 'unknown', 'settled')"
            ),
            postgresql_where=sa.text(
                "state IN ('created', 'held', 'sent', 'accepted', 'unknown', 'settled')"
            ),
        )

    op.create_table(
        "quarantine_row",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "import_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("raw_enc", sa.LargeBinary(), nullable=False),
        sa.Column(
            "problems",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=80), nullable=True),
        sa.Column(
            "enrollment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollment.id"],
            name=op.f("fk_quarantine_row_enrollment_id_enrollment"),
        ),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["import_batch.id"],
            name=op.f("fk_quarantine_row_import_id_import_batch"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine_row")),
        sa.UniqueConstraint(
            "import_id", "row_number", name=op.f("uq_quarantine_row_import_id_row_number")
        ),
    )
    with op.batch_alter_table("quarantine_row", schema=None) as batch_op:
        batch_op.create_index("ix_quarantine_row_status", ["status"], unique=False)

    op.create_table(
        "registry_verification",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "enrollment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column(
            "fields",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("vital_status", sa.String(length=10), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollment.id"],
            name=op.f("fk_registry_verification_enrollment_id_enrollment"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_registry_verification_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_verification")),
    )
    with op.batch_alter_table("registry_verification", schema=None) as batch_op:
        batch_op.create_index(
            "ix_registry_verification_enrollment", ["enrollment_id"], unique=False
        )
        batch_op.create_index("ix_registry_verification_person", ["person_id"], unique=False)

    op.create_table(
        "confirmation",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("inbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "instruction_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("item_key", sa.String(length=160), nullable=False),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("reason_code", sa.String(length=40), nullable=True),
        sa.Column("raw_status", sa.String(length=40), nullable=True),
        sa.Column("counter_pid_index", sa.LargeBinary(length=16), nullable=True),
        sa.Column("evidence_ref", sa.String(length=120), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("apply_result", sa.String(length=24), nullable=True),
        sa.ForeignKeyConstraint(
            ["inbox_id"], ["inbox_message.id"], name=op.f("fk_confirmation_inbox_id_inbox_message")
        ),
        sa.ForeignKeyConstraint(
            ["instruction_id"],
            ["payment_instruction.id"],
            name=op.f("fk_confirmation_instruction_id_payment_instruction"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_confirmation")),
        sa.UniqueConstraint("source", "item_key", name=op.f("uq_confirmation_source_item_key")),
    )
    with op.batch_alter_table("confirmation", schema=None) as batch_op:
        batch_op.create_index("ix_confirmation_instruction", ["instruction_id"], unique=False)
        batch_op.create_index("ix_confirmation_reference", ["reference"], unique=False)

    op.create_table(
        "mismatch_case",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("dedup_key", sa.String(length=160), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "programme_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("period", sa.String(length=7), nullable=True),
        sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "enrollment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "instruction_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "evidence",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "assignee_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.String(length=32), nullable=True),
        sa.Column("resolution_reason", sa.Text(), nullable=True),
        sa.Column(
            "opened_run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "last_seen_run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["app_user.id"], name=op.f("fk_mismatch_case_assignee_id_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollment.id"],
            name=op.f("fk_mismatch_case_enrollment_id_enrollment"),
        ),
        sa.ForeignKeyConstraint(
            ["instruction_id"],
            ["payment_instruction.id"],
            name=op.f("fk_mismatch_case_instruction_id_payment_instruction"),
        ),
        sa.ForeignKeyConstraint(
            ["last_seen_run_id"],
            ["recon_run.id"],
            name=op.f("fk_mismatch_case_last_seen_run_id_recon_run"),
        ),
        sa.ForeignKeyConstraint(
            ["opened_run_id"],
            ["recon_run.id"],
            name=op.f("fk_mismatch_case_opened_run_id_recon_run"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_mismatch_case_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programme.id"], name=op.f("fk_mismatch_case_programme_id_programme")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["admin_unit.id"], name=op.f("fk_mismatch_case_unit_id_admin_unit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mismatch_case")),
    )
    with op.batch_alter_table("mismatch_case", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mismatch_case_queue", ["status", "unit_id", "type", "opened_at"], unique=False
        )
        batch_op.create_index(
            "uq_mismatch_case_open",
            ["type", "dedup_key"],
            unique=True,
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        )

    op.create_table(
        "case_action",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "evidence",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["mismatch_case.id"], name=op.f("fk_case_action_case_id_mismatch_case")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_action")),
    )
    with op.batch_alter_table("case_action", schema=None) as batch_op:
        batch_op.create_index("ix_case_action_case", ["case_id"], unique=False)

    _audit_append_only()


def _audit_append_only() -> None:
    """The audit trail is append-only in the database itself, not only by convention."""
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION audit_event_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'audit_event is append-only';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_event_no_{verb.lower()} BEFORE {verb} ON audit_event "
                "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
            )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_change ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")

    with op.batch_alter_table("case_action", schema=None) as batch_op:
        batch_op.drop_index("ix_case_action_case")

    op.drop_table("case_action")
    with op.batch_alter_table("mismatch_case", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_mismatch_case_open",
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        )
        batch_op.drop_index("ix_mismatch_case_queue")

    op.drop_table("mismatch_case")
    with op.batch_alter_table("confirmation", schema=None) as batch_op:
        batch_op.drop_index("ix_confirmation_reference")
        batch_op.drop_index("ix_confirmation_instruction")

    op.drop_table("confirmation")
    with op.batch_alter_table("registry_verification", schema=None) as batch_op:
        batch_op.drop_index("ix_registry_verification_person")
        batch_op.drop_index("ix_registry_verification_enrollment")

    op.drop_table("registry_verification")
    with op.batch_alter_table("quarantine_row", schema=None) as batch_op:
        batch_op.drop_index("ix_quarantine_row_status")

    op.drop_table("quarantine_row")
    with op.batch_alter_table("payment_instruction", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_payment_instruction_live",
            sqlite_where=sa.text(
                "state IN ('created', 'held', 'sent', 'accepted', 'unknown', 'settled')"
            ),
            postgresql_where=sa.text(
                "state IN ('created', 'held', 'sent', 'accepted', 'unknown', 'settled')"
            ),
        )
        batch_op.drop_index("ix_payment_instruction_state")
        batch_op.drop_index("ix_payment_instruction_batch")

    op.drop_table("payment_instruction")
    with op.batch_alter_table("flag", schema=None) as batch_op:
        batch_op.drop_index("ix_flag_status_kind")

    op.drop_table("flag")
    with op.batch_alter_table("enrollment_transition", schema=None) as batch_op:
        batch_op.drop_index("ix_enrollment_transition_enrollment")

    op.drop_table("enrollment_transition")
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.drop_index("ix_enrollment_state_unit")
        batch_op.drop_index("ix_enrollment_person")
        batch_op.drop_index("ix_enrollment_import")

    op.drop_table("enrollment")
    with op.batch_alter_table("tick", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_tick_active",
            sqlite_where=sa.text("state = 'active'"),
            postgresql_where=sa.text("state = 'active'"),
        )

    op.drop_table("tick")
    with op.batch_alter_table("person_identifier", schema=None) as batch_op:
        batch_op.drop_index("ix_person_identifier_person")

    op.drop_table("person_identifier")
    with op.batch_alter_table("payee_account", schema=None) as batch_op:
        batch_op.drop_index("ix_payee_account_person")

    op.drop_table("payee_account")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_index("ix_person_name_key_birth_year")

    op.drop_table("person")
    op.drop_table("api_token")
    op.drop_table("payment_batch")
    op.drop_table("import_batch")
    op.drop_table("household")
    op.drop_table("app_user")
    op.drop_table("amount_rule")
    op.drop_table("allowed_combination")
    with op.batch_alter_table("admin_succession", schema=None) as batch_op:
        batch_op.drop_index("ix_admin_succession_new")

    op.drop_table("admin_succession")
    op.drop_table("programme")
    with op.batch_alter_table("admin_unit", schema=None) as batch_op:
        batch_op.drop_index("ix_admin_unit_scheme_path")

    op.drop_table("admin_unit")
    op.drop_table("standard_level")
    op.drop_table("recon_run")
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_message_due")

    op.drop_table("outbox_message")
    op.drop_table("kv_state")
    with op.batch_alter_table("job_run", schema=None) as batch_op:
        batch_op.drop_index("ix_job_run_started")

    op.drop_table("job_run")
    op.drop_table("job_lock")
    with op.batch_alter_table("inbox_message", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_message_status")

    op.drop_table("inbox_message")
    op.drop_table("exclusion_group")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_entity")

    op.drop_table("audit_event")
    op.drop_table("admin_scheme")
