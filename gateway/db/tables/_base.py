"""Shared metadata and column types for every table."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Column, DateTime, Integer, MetaData
from sqlalchemy.dialects.postgresql import JSONB

# Stable constraint names, so Alembic migrations can refer to them on both databases.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# 64-bit keys on PostgreSQL; INTEGER on SQLite so the key is the rowid alias and autoincrements.
ID = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")
Money = BigInteger  # integer VND; VND has no minor unit in practice, never a float


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def pk() -> Column[int]:
    return Column("id", ID, primary_key=True, autoincrement=True)


def created_at() -> Column[dt.datetime]:
    return Column("created_at", DateTime(timezone=True), nullable=False, default=utcnow)
