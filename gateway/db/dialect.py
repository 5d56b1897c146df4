"""The few statements whose spelling differs between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_ignore(conn: Connection, table: Table, **conflict: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING for the connection's dialect.

    ``conflict`` may name ``index_elements`` and ``index_where`` to target a (partial) unique
    index; without it any unique violation is ignored.
    """
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing(**conflict)
