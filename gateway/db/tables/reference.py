"""Reference data: administrative units of both schemes, programmes and their amount rules."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from gateway.db.tables._base import ID, Money, metadata, pk

# One row per code list: "legacy63" (63 provinces, 3 levels) and "2025-07" (34 provinces, 2 levels).
admin_scheme = Table(
    "admin_scheme",
    metadata,
    Column("code", String(16), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("levels", Integer, nullable=False),
    Column("valid_from", Date),
    Column("valid_to", Date),
    Column("source", Text, nullable=False),
    Column("data_version", String(40), nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
)

# Codes collide across schemes (legacy ward 00004 is not 2025 ward 00004): the key is the triple.
admin_unit = Table(
    "admin_unit",
    metadata,
    pk(),
    Column("scheme", String(16), ForeignKey("admin_scheme.code"), nullable=False),
    Column("level", String(10), nullable=False),
    Column("code", String(10), nullable=False),
    Column("name", String(120), nullable=False),
    Column("unit_type", String(40)),
    Column("parent_id", ID, ForeignKey("admin_unit.id")),
    Column("province_code", String(4), nullable=False),
    # materialised path "79/" "79/760/" "79/760/26734/": scope checks are a prefix comparison
    Column("path", String(40), nullable=False),
    UniqueConstraint("scheme", "level", "code"),
    CheckConstraint("level IN ('province', 'district', 'commune')", name="level"),
    Index("ix_admin_unit_scheme_path", "scheme", "path"),
)

# Old -> new is many-to-many: 441 legacy communes were split across several new ones.
admin_succession = Table(
    "admin_succession",
    metadata,
    Column("old_unit_id", ID, ForeignKey("admin_unit.id"), primary_key=True),
    Column("new_unit_id", ID, ForeignKey("admin_unit.id"), primary_key=True),
    Column("is_partial", Boolean, nullable=False),
    Column("is_default", Boolean, nullable=False, default=False),
    Index("ix_admin_succession_new", "new_unit_id"),
)

# Mức chuẩn trợ giúp xã hội: 270,000 -> 360,000 (2021-07-01) -> 500,000 (2024-07-01).
standard_level = Table(
    "standard_level",
    metadata,
    Column("effective_from", Date, primary_key=True),
    Column("amount", Money, nullable=False),
    Column("legal_basis", String(120), nullable=False),
)

exclusion_group = Table(
    "exclusion_group",
    metadata,
    Column("code", String(40), primary_key=True),
    Column("name_vi", String(200), nullable=False),
    Column("name_en", String(200), nullable=False),
    # highest_wins: the person is paid only the highest amount among the group's programmes
    Column("policy", String(20), nullable=False),
    CheckConstraint("policy IN ('highest_wins', 'one_only')", name="policy"),
)

programme = Table(
    "programme",
    metadata,
    pk(),
    Column("code", String(40), nullable=False, unique=True),
    Column("name_vi", String(200), nullable=False),
    Column("name_en", String(200), nullable=False),
    Column("legal_basis", String(200), nullable=False),
    Column("ministry", String(80)),
    Column("periodicity", String(10), nullable=False),
    Column("amount_kind", String(12), nullable=False),
    Column("exclusion_group", String(40), ForeignKey("exclusion_group.code")),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date),
    CheckConstraint("periodicity IN ('monthly', 'one_off')", name="periodicity"),
    CheckConstraint("amount_kind IN ('fixed', 'coefficient')", name="amount_kind"),
)

# Effective-dated amounts: a fixed amount, or a default coefficient (in thousandths) applied to
# the standard level in force on the period's first day.
amount_rule = Table(
    "amount_rule",
    metadata,
    pk(),
    Column("programme_id", ID, ForeignKey("programme.id"), nullable=False),
    Column("effective_from", Date, nullable=False),
    Column("fixed_amount", Money),
    Column("coefficient_milli", Integer),
    UniqueConstraint("programme_id", "effective_from"),
    CheckConstraint(
        "(fixed_amount IS NULL) <> (coefficient_milli IS NULL)", name="fixed_xor_coefficient"
    ),
)

# Pairs of programmes of the same exclusion group that the law allows together (OpenSID#3313).
allowed_combination = Table(
    "allowed_combination",
    metadata,
    Column("programme_a", ID, ForeignKey("programme.id"), primary_key=True),
    Column("programme_b", ID, ForeignKey("programme.id"), primary_key=True),
    Column("note", Text),
    CheckConstraint("programme_a < programme_b", name="ordered_pair"),
)
