"""Alembic environment: runs on the engine nbo hands it (no alembic.ini, no URL in files)."""

from __future__ import annotations

from alembic import context

from decisioning.tables import metadata

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
