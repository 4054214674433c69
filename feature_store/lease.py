"""The learner's lease: one active learner, any number of hot standbys, and a fenced checkpoint.

Several ``nbo learner`` processes may run (on several machines); the one holding the lease learns,
the others wait and take over when it stops renewing (crash, SIGKILL, partition) within the
lease's time to live. The lease key sits in the model's slot (``{m}``) beside the checkpoint, so
one script can *fence* the checkpoint: it is written only while the writer still holds the lease.
A learner that lost its lease (paused, then woke up) can therefore never overwrite the new
holder's checkpoint, and since it acknowledges stream entries only after a successful
checkpoint, it acknowledges nothing either. All holders use one consumer name in the stream
group, so the new holder re-reads what the old one had read but not acknowledged.
"""

from __future__ import annotations

from typing import Any

from .errors import StoreError, map_redis_errors
from .keys import Keys
from .snapshots import RedisModelStore

__all__ = ["FencedCheckpoints", "LeaseLost", "RedisLease"]


class LeaseLost(StoreError):
    """This process no longer holds the lease: it must stop acting as the active learner."""


_ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_FENCED_SET = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
"""


class RedisLease:
    """A renewable lease held by ``holder`` for ``ttl_ms`` after each acquire or renewal."""

    def __init__(self, client: Any, keys: Keys, *, holder: str, ttl_ms: int = 10_000) -> None:
        self._redis = client
        self.key = keys.learner_lease
        self.holder = holder
        self.ttl_ms = ttl_ms
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)

    async def acquire(self) -> bool:
        """Take the lease if it is free, or extend it if it is ours; False if someone has it."""
        with map_redis_errors():
            return bool(await self._acquire(keys=[self.key], args=[self.holder, self.ttl_ms]))

    renew = acquire

    async def release(self) -> None:
        """Give the lease up now (a graceful stop), so a standby need not wait for it to expire."""
        with map_redis_errors():
            await self._release(keys=[self.key], args=[self.holder])

    async def current_holder(self) -> str | None:
        with map_redis_errors():
            raw = await self._redis.get(self.key)
        return raw.decode() if isinstance(raw, bytes) else raw


class FencedCheckpoints:
    """A :class:`models.CheckpointStore` whose writes succeed only while the lease is held."""

    def __init__(self, models: RedisModelStore, lease: RedisLease) -> None:
        self._models = models
        self._lease = lease
        self._set = models.client.register_script(_FENCED_SET)

    async def load_checkpoint(self) -> bytes | None:
        return await self._models.load_checkpoint()

    async def save_checkpoint(self, data: bytes) -> None:
        with map_redis_errors():
            saved = await self._set(
                keys=[self._lease.key, self._models.keys.checkpoint],
                args=[self._lease.holder, data],
            )
        if not saved:
            raise LeaseLost(f"the learner lease is no longer held by {self._lease.holder}")
