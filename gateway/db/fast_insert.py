"""One INSERT … ON CONFLICT DO NOTHING RETURNING, in its own transaction, on the pooled driver
connection: for the hottest write of the gateway (every bank callback's inbox row), where
SQLAlchemy's execution layer costs more than the insert itself (measured: ~600 µs against
~270 µs on SQLite). The statement is compiled by SQLAlchemy once per engine, and every value
goes through its column type's own bind processor, so the row reads back like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite


class FastInsert:
    def __init__(self, engine: Engine, table: Table, columns: Sequence[str], returning: str):
        dialect = engine.dialect
        self.sqlite = dialect.name == "sqlite"
        insert = sqlite.insert if self.sqlite else postgresql.insert
        statement = (
            insert(table)
            .values({name: bindparam(name) for name in columns})
            .on_conflict_do_nothing()
            .returning(table.c[returning])
        )
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.order: Sequence[str] | None = compiled.positiontup  # qmark (SQLite) or named
        self.columns = tuple(columns)
        self.processors: dict[str, Callable[[Any], Any] | None] = {
            name: table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in columns
        }

    def _params(self, values: Mapping[str, Any]) -> Any:
        bound = {}
        for name in self.columns:
            value, processor = values[name], self.processors[name]
            bound[name] = processor(value) if processor is not None and value is not None else value
        return tuple(bound[n] for n in self.order) if self.order is not None else bound

    def __call__(self, engine: Engine, values: Mapping[str, Any]) -> Any:
        """The ``returning`` value of the new row, or None when a unique key already exists."""
        params = self._params(values)
        with engine.connect() as pooled:
            raw = pooled.connection.driver_connection
            assert raw is not None
            cursor = raw.cursor()
            try:
                if self.sqlite:  # autocommit at the driver (gateway.db.engine): say it ourselves
                    cursor.execute("BEGIN IMMEDIATE")
                cursor.execute(self.sql, params)
                row = cursor.fetchone()
                if self.sqlite:
                    cursor.execute("COMMIT")
                else:
                    raw.commit()
            except BaseException:
                if self.sqlite:
                    if raw.in_transaction:
                        cursor.execute("ROLLBACK")
                else:
                    raw.rollback()
                raise
            finally:
                cursor.close()
        return None if row is None else row[0]
