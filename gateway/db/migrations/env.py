"""Alembic environment: the engine comes from the caller (gateway.db.migrate), never from a URL
baked into a file, so the same migrations run on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import context

from gateway.db.tables import metadata

engine = context.config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
