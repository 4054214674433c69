"""Migrations: several processes starting at once on a fresh database all come up."""

from __future__ import annotations

import multiprocessing
from typing import Any

from sqlalchemy import inspect

from decisioning import make_engine, migrate


def _migrate(url: str, barrier: Any) -> str:
    engine = make_engine(url)
    barrier.wait()
    try:
        migrate(engine)
        return "ok"
    except Exception as exc:  # noqa: BLE001 - the test reports what each process met
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    finally:
        engine.dispose()


def test_four_processes_migrating_a_fresh_database_at_once_all_succeed(database_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(4) as pool:
        barrier = manager.Barrier(4)  # all four start migrating at the same moment
        results = pool.starmap(_migrate, [(database_url, barrier)] * 4)
    assert results == ["ok"] * 4
    engine = make_engine(database_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"offers", "interactions", "customer_history", "alembic_version"} <= tables
