"""Set-based SQL for bulk intake, the same on SQLite and PostgreSQL.

A chunk of a few thousand rows is written with a handful of statements: ``executemany`` of one
plain INSERT through the driver (no statement built per row), constants bound once through their
column's type (timestamps, booleans), keys taken for the whole chunk up front (so the rows that
point at them — identifiers, enrollments, transitions — are built in Python, not read back), and
lookups as one ``IN (…)`` query per chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Column, Connection, Table

LOOKUP_SLICE = 5_000  # values per lookup
COPY_ROWS = 200  # PostgreSQL: from this many rows on, COPY instead of executemany
_ARRAY_TYPES = {
    "LargeBinary": "bytea",
    "String": "text",
    "Integer": "bigint",
    "BigInteger": "bigint",
}


class Bulk:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect
        self.postgres = conn.dialect.name == "postgresql"
        self.mark = "%s" if self.postgres else "?"
        self._sql: dict[tuple[object, ...], str] = {}

    def binder(self, column: Column[Any]) -> Callable[[Any], Any] | None:
        """How the driver wants values of this column (None: as they are)."""
        impl = column.type.dialect_impl(self.dialect)
        processor: Callable[[Any], Any] | None = impl.bind_processor(self.dialect)
        return processor

    def bind(self, column: Column[Any], value: Any) -> Any:
        processor = self.binder(column)
        return value if processor is None or value is None else processor(value)

    def insert(
        self, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]], *, ignore: bool
    ) -> int:
        """Insert the rows (tuples in ``columns`` order); with ``ignore``, a row that breaks a
        unique constraint is skipped. Returns how many were inserted."""
        if not rows:
            return 0
        if self.postgres and len(rows) >= COPY_ROWS:
            return self._copy(table, columns, rows, ignore=ignore)
        key = ("insert", table.name, tuple(columns), ignore)
        sql = self._sql.get(key)
        if sql is None:
            marks = ", ".join([self.mark] * len(columns))
            # names from our own table metadata; every value is a bound parameter
            sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
            if ignore:
                sql += " ON CONFLICT DO NOTHING"
            self._sql[key] = sql
        return int(self.conn.exec_driver_sql(sql, rows).rowcount)

    def _copy(
        self, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]], *, ignore: bool
    ) -> int:
        """PostgreSQL: ``COPY`` (a third of the cost of row-by-row inserts). With ``ignore``,
        through a temporary staging table and ``INSERT … SELECT … ON CONFLICT DO NOTHING``."""
        names = ", ".join(columns)
        raw = self.conn.connection.driver_connection
        with raw.cursor() as cur:  # type: ignore[union-attr]
            if not ignore:
                with cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                return len(rows)
            stage = self._stage(cur, table, columns)
            with cur.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(
                f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {stage} "  # noqa: S608
                "ON CONFLICT DO NOTHING"
            )
            inserted = int(cur.rowcount)
            cur.execute(f"TRUNCATE {stage}")
            return inserted

    def _stage(self, cur: Any, table: Table, columns: Sequence[str]) -> str:
        key = ("stage", table.name, tuple(columns))
        name = self._sql.get(key)
        if name is None:
            name = self._sql[key] = f"ansinh_stage_{table.name}_{len(self._sql)}"
            cur.execute(
                f"CREATE TEMPORARY TABLE {name} ON COMMIT DROP AS "  # noqa: S608 - our names
                f"SELECT {', '.join(columns)} FROM {table.name} WITH NO DATA"
            )
        return name

    def update(self, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """``UPDATE table SET columns… WHERE id = ?`` per row (the id is each tuple's last item)."""
        if not rows:
            return
        sets = ", ".join(f"{c} = {self.mark}" for c in columns)
        sql = f"UPDATE {table.name} SET {sets} WHERE id = {self.mark}"  # noqa: S608 - our names
        self.conn.exec_driver_sql(sql, rows)

    def lookup(
        self, table: Table, columns: Sequence[str], key: str, values: Iterable[Any], **equal: Any
    ) -> list[Any]:
        """``columns`` of the rows whose ``key`` is one of ``values`` (and ``equal`` holds).

        SQLite: ``key IN (…)``. PostgreSQL: a join with ``unnest`` of one array parameter — a
        long IN list, once psycopg prepares the statement, gets a generic plan that filters
        instead of seeking, and the lookup turns quadratic as the import grows the table."""
        wanted = list(dict.fromkeys(values))
        found: list[Any] = []
        for start in range(0, len(wanted), LOOKUP_SLICE):
            part = wanted[start : start + LOOKUP_SLICE]
            if self.postgres:
                array = _ARRAY_TYPES.get(type(table.c[key].type).__name__, "bigint")
                sql = (
                    f"SELECT {', '.join('t.' + c for c in columns)} "  # noqa: S608 - our names
                    f"FROM unnest(%s::{array}[]) AS w(k) JOIN {table.name} t ON t.{key} = w.k"
                    + "".join(f" AND t.{c} = %s" for c in equal)
                )
                params: tuple[Any, ...] = (part, *equal.values())
            else:
                conditions = [f"{c} = ?" for c in equal]
                conditions.append(f"{key} IN ({', '.join('?' * len(part))})")
                where = " AND ".join(conditions)
                sql = f"SELECT {', '.join(columns)} FROM {table.name} WHERE {where}"  # noqa: S608
                params = (*equal.values(), *part)
            found += self.conn.exec_driver_sql(sql, params).all()
        return found

    def ids(self, table: Table, count: int) -> list[int]:
        """``count`` new primary keys for ``table``, taken before the rows are inserted.

        PostgreSQL: from the table's sequence (safe with concurrent writers). SQLite: after the
        largest key — a write transaction there holds the database's only write lock
        (``BEGIN IMMEDIATE``), so nobody else can insert until it ends."""
        if count <= 0:
            return []
        if self.postgres:
            rows = self.conn.exec_driver_sql(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                (table.name, count),
            ).scalars()
            return [int(i) for i in rows]
        top = self.conn.exec_driver_sql(f"SELECT max(id) FROM {table.name}").scalar()  # noqa: S608
        start = int(top or 0) + 1
        return list(range(start, start + count))
