"""Persons, their identifiers (with history) and payee accounts; numbers never in clear."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
    text,
)

from gateway.db.tables._base import ID, created_at, metadata, pk

household = Table(
    "household",
    metadata,
    pk(),
    Column("code", String(40), nullable=False, unique=True),
    Column("residence_unit_id", ID, ForeignKey("admin_unit.id")),
    Column("poverty_status", String(12)),  # poor | near_poor | None
    Column("poverty_year", SmallInteger),
)

person = Table(
    "person",
    metadata,
    pk(),
    # current personal ID: HMAC blind index (lookups, uniqueness, joins) + AES-GCM ciphertext
    Column("pid_index", LargeBinary(16), unique=True),
    Column("pid_enc", LargeBinary),
    Column("full_name", String(200), nullable=False),  # NFC
    Column("name_key", String(200), nullable=False),  # folded: lower ASCII, single spaces
    Column("birth_year", SmallInteger),
    Column("birth_month", SmallInteger),
    Column("birth_day", SmallInteger),
    Column("gender", String(1)),
    Column("vital_status", String(10), nullable=False, default="unknown"),
    Column("death_date", Date),
    Column("residence_unit_id", ID, ForeignKey("admin_unit.id")),
    Column("household_id", ID, ForeignKey("household.id")),
    Column("registry_checked_at", DateTime(timezone=True)),
    Column("merged_into_id", ID, ForeignKey("person.id")),
    created_at(),
    Column("updated_at", DateTime(timezone=True)),
    Index("ix_person_name_key_birth_year", "name_key", "birth_year"),
    Index("ix_person_updated_at", "updated_at"),  # 0006_recon
    Index(
        "ix_person_deceased",
        "id",
        sqlite_where=text("vital_status = 'deceased'"),
        postgresql_where=text("vital_status = 'deceased'"),
    ),
)

# Every number a person has held: re-established personal IDs and old 9-digit CMND numbers.
person_identifier = Table(
    "person_identifier",
    metadata,
    pk(),
    Column("person_id", ID, ForeignKey("person.id"), nullable=False),
    Column("kind", String(8), nullable=False),  # pid | cmnd9
    Column("value_index", LargeBinary(16), nullable=False),
    Column("value_enc", LargeBinary, nullable=False),
    Column("current", Boolean, nullable=False, default=True),
    Column("source", String(32), nullable=False),
    created_at(),
    Column("retired_at", DateTime(timezone=True)),
    UniqueConstraint("kind", "value_index"),
    Index("ix_person_identifier_person", "person_id"),
)

payee_account = Table(
    "payee_account",
    metadata,
    pk(),
    Column("person_id", ID, ForeignKey("person.id"), nullable=False),
    Column("bin", String(6), nullable=False),
    Column("number_index", LargeBinary(16), nullable=False),
    Column("number_enc", LargeBinary, nullable=False),
    Column("holder_name", String(200)),  # as the bank answered (upper-case ASCII)
    Column("name_match", String(12)),  # gateway.domain.names.NameMatch
    Column("status", String(12), nullable=False, default="unverified"),
    Column("checked_at", DateTime(timezone=True)),
    created_at(),
    UniqueConstraint("bin", "number_index"),
    Index("ix_payee_account_person", "person_id"),
)
