"""Create the SQL engine and bring the schema up to date with Alembic on start."""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event

__all__ = ["make_engine", "migrate", "normalise_url"]


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given in the common ``postgresql://`` form.

    >>> normalise_url("postgresql://u@h/db")
    'postgresql+psycopg://u@h/db'
    >>> normalise_url("sqlite:///x.db")
    'sqlite:///x.db'
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _wal(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout=30000")
            _switch_to_wal(cursor)
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _switch_to_wal(cursor: sqlite3.Cursor, *, patience_s: float = 30.0) -> None:
    """Put the file in WAL mode, waiting out other processes doing the same.

    Switching a fresh file to WAL takes its exclusive lock, and SQLite answers "database is locked"
    at once, without its busy handler, while another connection holds any lock: four processes
    opening a fresh database together failed about one run in eight. WAL is persistent, so once
    one of them has switched, the others find it done.
    """
    deadline = time.monotonic() + patience_s
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01 + random.random() * 0.04)


def migrate(engine: Engine, *, schema: str | None = None) -> None:
    """Apply every Alembic migration (idempotent: a database already at head is left alone)."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["engine"] = engine
    config.attributes["schema"] = schema
    command.upgrade(config, "head")
