"""The durable list of model versions the learner published (SQL), for history and rollback."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select

from .tables import model_versions

__all__ = ["ModelRegistry"]


class ModelRegistry:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(self, version: int, n_learned: int) -> None:
        """Remember a published version; recording the same version again is a no-op."""
        with self._engine.begin() as conn:
            exists = conn.execute(
                select(model_versions.c.version).where(model_versions.c.version == version)
            ).first()
            if exists is None:
                conn.execute(insert(model_versions).values(version=version, n_learned=n_learned))

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(model_versions).order_by(model_versions.c.version.desc()).limit(limit)
            ).all()
        return [
            {"version": r.version, "n_learned": r.n_learned, "created_at": _utc(r.created_at)}
            for r in rows
        ]


def _utc(at: datetime | None) -> datetime | None:
    """SQLite hands back naive timestamps (written by ``CURRENT_TIMESTAMP``, in UTC)."""
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
