"""Model checkpoints and snapshots, and the catalogue's change counter, in Redis.

The checkpoint (model + stream positions) is a single key written by a single SET, which is what
makes it atomic. A snapshot is published as ``snapshot:<v>`` plus the ``latest`` pointer in one
MULTI (same slot), so a worker never reads a pointer to a snapshot that is not there.
"""

from __future__ import annotations

from typing import Any

from .errors import map_redis_errors
from .keys import Keys

__all__ = ["RedisModelStore"]


class RedisModelStore:
    """Implements :class:`models.CheckpointStore` and :class:`models.SnapshotSink` on Redis."""

    def __init__(self, client: Any, keys: Keys, *, keep_snapshots: int = 20) -> None:
        self._redis = client
        self._keys = keys
        self.keep_snapshots = keep_snapshots

    @property
    def client(self) -> Any:
        return self._redis

    @property
    def keys(self) -> Keys:
        return self._keys

    async def load_checkpoint(self) -> bytes | None:
        with map_redis_errors():
            data: bytes | None = await self._redis.get(self._keys.checkpoint)
        return data

    async def save_checkpoint(self, data: bytes) -> None:
        with map_redis_errors():
            await self._redis.set(self._keys.checkpoint, data)

    async def publish_snapshot(
        self,
        version: int,
        data: bytes,
        *,
        n_learned: int = 0,  # noqa: ARG002 - the snapshot bytes carry it already
    ) -> None:
        k = self._keys
        with map_redis_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(k.snapshot(version), data)
                pipe.set(k.snapshot_latest, version)
                if version > self.keep_snapshots:
                    pipe.delete(k.snapshot(version - self.keep_snapshots))
                await pipe.execute()

    async def latest_version(self) -> int:
        with map_redis_errors():
            raw = await self._redis.get(self._keys.snapshot_latest)
        return int(raw) if raw else 0

    async def load_snapshot(self, version: int) -> bytes | None:
        with map_redis_errors():
            data: bytes | None = await self._redis.get(self._keys.snapshot(version))
        return data

    async def serving_version(self) -> int:
        """The version workers should serve: the pinned one if a rollback pinned it, else latest."""
        with map_redis_errors():
            pinned, latest = await self._redis.mget(
                self._keys.snapshot_pinned, self._keys.snapshot_latest
            )
        return int(pinned or latest or 0)

    async def pinned_version(self) -> int | None:
        with map_redis_errors():
            raw = await self._redis.get(self._keys.snapshot_pinned)
        return int(raw) if raw else None

    async def pin(self, version: int | None) -> None:
        """Serve ``version`` until unpinned (rollback); None goes back to the newest version."""
        with map_redis_errors():
            if version is None:
                await self._redis.delete(self._keys.snapshot_pinned)
            else:
                await self._redis.set(self._keys.snapshot_pinned, version)

    async def bump_catalogue(self) -> int:
        with map_redis_errors():
            version: int = await self._redis.incr(self._keys.catalogue_version)
        return version

    async def catalogue_version(self) -> int:
        with map_redis_errors():
            raw = await self._redis.get(self._keys.catalogue_version)
        return int(raw) if raw else 0
