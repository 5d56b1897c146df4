"""Persistence: SQLAlchemy Core tables, engine factory, migrations and repositories."""
