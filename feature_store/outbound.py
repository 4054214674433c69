"""Outbound queues: one Redis Stream per channel, read by that channel's senders.

Messages are what outbound triggers decided to send (an email, an SMS, a push). Readers either
look at the newest (``recent``, for people and dashboards) or consume them as a consumer group
(``claim`` then ``ack``, for the real senders): a message claimed by a sender that dies stays
pending and can be reclaimed by another after ``reclaim_idle_ms``.

Each stream keeps about 30 days (``XADD ... MINID ~``): a message older than that is stale.
Next to each message, its id goes into the customer's index set (``keys.queued``), which is how
erasing a customer finds their messages without reading every stream. The stream and the index
live in different slots (``{q:<channel>}``, ``{c:<id>}``), so they are two writes, not one
transaction: a crash between them could leave one message unindexed until it ages out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis.exceptions

from .errors import map_redis_errors
from .events import DAY_MS
from .keys import Keys

__all__ = ["GROUP", "OutboundMessage", "RedisOutbound"]

GROUP = "senders"
KEEP_MS = 30 * DAY_MS


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    stream_id: str
    fields: dict[str, str]


class RedisOutbound:
    def __init__(self, client: Any, keys: Keys, *, keep_ms: int = KEEP_MS) -> None:
        self.keep_ms = keep_ms
        self._redis = client
        self._keys = keys
        self._groups: set[str] = set()

    async def enqueue(
        self, channel: str, customer_id: str, fields: Mapping[str, str], *, now_ms: int
    ) -> str:
        """Append a message to the channel's stream and index it under the customer."""
        k = self._keys
        with map_redis_errors():
            stream_id = _text(
                await self._redis.xadd(
                    k.outbound(channel),
                    dict(fields),
                    minid=str(now_ms - self.keep_ms),
                    approximate=True,
                )
            )
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.sadd(k.queued(customer_id), f"{channel}|{stream_id}")
                pipe.pexpire(k.queued(customer_id), self.keep_ms + DAY_MS)
                await pipe.execute()
        return stream_id

    async def recent(self, channel: str, limit: int = 50) -> list[OutboundMessage]:
        """The newest messages of the channel, newest first (claimed or not)."""
        with map_redis_errors():
            entries = await self._redis.xrevrange(self._keys.outbound(channel), count=limit)
        return _parse(entries)

    async def _ensure_group(self, stream: str) -> bool:
        """Create the senders' group on an existing stream; False when nothing was ever queued
        for the channel (then there is nothing to claim, and no stream is made: a caller may
        name any channel, and a stream per name would stay in Redis for ever). A group created
        once messages exist starts from the first, so none queued before it is missed."""
        if stream in self._groups:
            return True
        try:
            with map_redis_errors():
                await self._redis.xgroup_create(stream, GROUP, id="0")
        except Exception as exc:  # noqa: BLE001
            cause = exc.__cause__ or exc
            if not isinstance(cause, redis.exceptions.ResponseError):
                raise
            if "requires the key to exist" in str(cause):
                return False
            if "BUSYGROUP" not in str(cause):
                raise
        self._groups.add(stream)
        return True

    async def claim(
        self, channel: str, consumer: str, count: int, *, reclaim_idle_ms: int | None = None
    ) -> list[OutboundMessage]:
        """Up to ``count`` messages for ``consumer``: stale ones first (if asked), then new ones.

        A message stays pending for its consumer until acknowledged; with ``reclaim_idle_ms``,
        messages another consumer has held that long without acknowledging are taken over
        (XAUTOCLAIM), so a dead sender's messages are not lost.
        """
        stream = self._keys.outbound(channel)
        if not await self._ensure_group(stream):
            return []
        out: list[OutboundMessage] = []
        with map_redis_errors():
            if reclaim_idle_ms is not None:
                reply = await self._redis.xautoclaim(
                    stream, GROUP, consumer, min_idle_time=reclaim_idle_ms, count=count
                )
                out.extend(_parse(reply[1]))
            if len(out) < count:
                reply = await self._redis.xreadgroup(
                    GROUP, consumer, {stream: ">"}, count=count - len(out)
                )
                for _name, entries in reply or []:
                    out.extend(_parse(entries))
        return out

    async def ack(self, channel: str, stream_ids: Sequence[str]) -> int:
        """Acknowledge delivered messages; returns how many were pending."""
        if not stream_ids:
            return 0
        stream = self._keys.outbound(channel)
        if not await self._ensure_group(stream):
            return 0
        with map_redis_errors():
            return int(await self._redis.xack(stream, GROUP, *stream_ids))


def _parse(entries: Sequence[Any]) -> list[OutboundMessage]:
    """Stream entries as messages; entries erased since delivery (no fields) are skipped."""
    out = []
    for stream_id, fields in entries:
        if fields:
            out.append(
                OutboundMessage(_text(stream_id), {_text(a): _text(b) for a, b in fields.items()})
            )
    return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
