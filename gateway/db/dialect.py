"""The few statements whose spelling differs between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam, column, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY


def insert_ignore(conn: Connection, table: Table, **conflict: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING for the connection's dialect.

    ``conflict`` may name ``index_elements`` and ``index_where`` to target a (partial) unique
    index; without it any unique violation is ignored.
    """
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing(**conflict)


def bulk_insert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    returning: Sequence[Any] = (),
    ignore_conflicts: bool = False,
) -> list[Any]:
    """Many rows (all with the same keys) in one statement; returns the ``returning`` columns
    of the rows inserted. PostgreSQL: ``INSERT … SELECT … FROM unnest(<one array per column>)``
    — one short statement whatever the row count (a long multi-row VALUES list costs the driver
    a parse each time); SQLite: an executemany."""
    if not rows:
        return []
    if conn.dialect.name != "postgresql":
        stmt = sqlite.insert(table)
        if ignore_conflicts:
            stmt = stmt.on_conflict_do_nothing()
        if returning:
            return list(conn.execute(stmt.returning(*returning), list(rows)).all())
        conn.execute(stmt, list(rows))
        return []
    names = list(rows[0])
    arrays = [
        bindparam(f"bulk_{name}", [r[name] for r in rows], type_=ARRAY(table.c[name].type))
        for name in names
    ]
    source = (
        func.unnest(*arrays)
        .table_valued(*[column(name, table.c[name].type) for name in names])
        .render_derived()
    )
    pg = postgresql.insert(table).from_select(names, select(*[source.c[n] for n in names]))
    if ignore_conflicts:
        pg = pg.on_conflict_do_nothing()
    if returning:
        return list(conn.execute(pg.returning(*returning)).all())
    conn.execute(pg)
    return []


def bulk_update(
    conn: Connection, table: Table, key: str, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Set columns of many rows, each found by ``key`` (all rows with the same keys).
    PostgreSQL: ``UPDATE … FROM unnest(<arrays>)`` in one statement; SQLite: an executemany."""
    if not rows:
        return
    names = [n for n in rows[0] if n != key]
    if conn.dialect.name != "postgresql":
        stmt = (
            table.update()
            .where(table.c[key] == bindparam(f"b_{key}"))
            .values({n: bindparam(f"b_{n}") for n in names})
        )
        conn.execute(stmt, [{f"b_{k}": v for k, v in r.items()} for r in rows])
        return
    every = [key, *names]
    arrays = [
        bindparam(f"bulk_{n}", [r[n] for r in rows], type_=ARRAY(table.c[n].type)) for n in every
    ]
    source = (
        func.unnest(*arrays)
        .table_valued(*[column(n, table.c[n].type) for n in every])
        .render_derived()
    )
    conn.execute(
        table.update().where(table.c[key] == source.c[key]).values({n: source.c[n] for n in names})
    )


# -- SQL text pieces for set-based statements written as text (reconciliation) ---------------


def json_object_sql(dialect: str, pairs: Sequence[tuple[str, str]]) -> str:
    """A JSON object built inside the database from ``(key, SQL expression)`` pairs:
    ``json_object`` on SQLite (text the JSON column reads back), ``jsonb_build_object`` on
    PostgreSQL (the JSONB column's own type)."""
    args = ", ".join(f"'{key}', {expr}" for key, expr in pairs)
    return f"jsonb_build_object({args})" if dialect == "postgresql" else f"json_object({args})"


def json_embed_sql(dialect: str, expr: str) -> str:
    """A JSON column's value placed inside ``json_object_sql`` as JSON, not as a quoted string."""
    return expr if dialect == "postgresql" else f"json({expr})"


def iso_utc_sql(dialect: str, expr: str) -> str:
    """A timestamp as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC), spelled the same by both databases."""
    if dialect == "postgresql":
        return f"to_char({expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    return f"strftime('%Y-%m-%dT%H:%M:%SZ', {expr})"


def xact_lock(conn: Connection, key: int) -> None:
    """Serialise a job across processes for the rest of the transaction. PostgreSQL: an
    advisory transaction lock; SQLite: the write transaction (``BEGIN IMMEDIATE``, see
    gateway.db.engine) already excludes every other writer."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({int(key)})")
