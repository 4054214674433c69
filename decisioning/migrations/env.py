"""Alembic environment: runs on the engine nbo hands it (no alembic.ini, no URL in files).

Replicas and learners all migrate on start. They take a lock first (PostgreSQL: a
transaction-scoped advisory lock; SQLite: the file's write lock), so when several start at once on
a fresh database one migrates and the others, once it commits, find the schema at head (without
it, all but one failed creating the same tables).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from decisioning.tables import metadata

config = context.config
engine = config.attributes["engine"]

MIGRATION_LOCK = 0x6E626F  # "nbo": one key for every nbo database's migrations

with engine.begin() as connection:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # the file's write lock, until commit
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
