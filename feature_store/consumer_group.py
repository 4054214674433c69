"""One consumer of a Redis Stream consumer group, over the per-shard streams of one kind.

Both the learner (group ``learners`` on the outcome streams) and the SQL archivers (group
``archivers`` on the outcome and archive streams) read this way: first this consumer's own pending
entries (delivered before a crash, never acknowledged), then new ones, so a restarted consumer sees
everything it had not finished, in stream order. Entries are acknowledged only when the reader has
made its work durable, and a stream is trimmed only below what *every* group has acknowledged, so
several groups can read one stream and none loses an entry to another's trim.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis.exceptions

from .client import is_cluster
from .errors import map_redis_errors

__all__ = ["ConsumerGroup", "StreamEntry", "split_stream_id"]


def split_stream_id(stream_id: str) -> tuple[int, int]:
    """``"<ms>-<seq>"`` as two numbers, which order stream ids correctly."""
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(frozen=True, slots=True)
class StreamEntry:
    shard: int
    stream_id: str
    fields: Mapping[bytes, bytes]


class ConsumerGroup:
    """Reads, acknowledges and safely trims one group's view of ``stream(shard)`` for each shard."""

    def __init__(
        self,
        client: Any,
        *,
        stream: Callable[[int], str],
        shards: int,
        group: str,
        consumer: str,
    ) -> None:
        self._redis = client
        self._stream = stream
        self._shards = shards
        self.group = group
        self.consumer = consumer
        self._pending_cursor: dict[int, str] = {}
        self._drained_pending: set[int] = set()
        self._ready = False
        self._cluster = is_cluster(client)

    async def ensure(self) -> None:
        """Create each shard's group at the stream's start; an existing group is fine."""
        for shard in range(self._shards):
            try:
                with map_redis_errors():
                    await self._redis.xgroup_create(
                        self._stream(shard), self.group, id="0", mkstream=True
                    )
            except Exception as exc:  # noqa: BLE001 - BUSYGROUP arrives wrapped
                cause = exc.__cause__ or exc
                if not (
                    isinstance(cause, redis.exceptions.ResponseError) and "BUSYGROUP" in str(cause)
                ):
                    raise
        self._ready = True

    def rewind(self) -> None:
        """Start again from this consumer's pending entries (after work that failed)."""
        self._pending_cursor.clear()
        self._drained_pending.clear()

    async def read(self, count: int, block_ms: int) -> list[StreamEntry]:
        """This consumer's unacknowledged entries first, then new ones (blocking ``block_ms``).

        When nothing new comes, the next call looks at the pending entries again: a read sent by
        an earlier incarnation of this consumer just before Redis stalled can be executed when
        Redis wakes, after this one scanned its pending entries; what it delivered then sits
        pending, and is picked up at the next idle moment instead of never.
        """
        if not self._ready:
            await self.ensure()
        out: list[StreamEntry] = []
        for shard in range(self._shards):
            if shard in self._drained_pending:
                continue
            with map_redis_errors():
                reply = await self._redis.xreadgroup(
                    self.group,
                    self.consumer,
                    {self._stream(shard): self._pending_cursor.get(shard, "0")},
                    count=count,
                )
            entries = reply[0][1] if reply else []
            if not entries:
                self._drained_pending.add(shard)
            else:
                self._pending_cursor[shard] = entries[-1][0].decode()
            out.extend(StreamEntry(shard, sid.decode(), f) for sid, f in entries)
        if out:
            return out
        if self._cluster and self._shards > 1:
            return await self._read_each_shard(count, block_ms)
        streams = {self._stream(shard): ">" for shard in range(self._shards)}
        shard_of = {self._stream(shard): shard for shard in range(self._shards)}
        with map_redis_errors():
            reply = await self._redis.xreadgroup(
                self.group, self.consumer, streams, count=count, block=block_ms or None
            )
        for name, entries in reply or []:
            shard = shard_of[name.decode() if isinstance(name, bytes) else name]
            out.extend(StreamEntry(shard, sid.decode(), f) for sid, f in entries)
        if not out:
            self.rewind()  # idle: look at this consumer's pending entries again (see below)
        return out

    async def _read_each_shard(self, count: int, block_ms: int) -> list[StreamEntry]:
        """On a cluster the shards' streams sit in different slots: one read each, and a short
        pause (instead of a blocking read on all) when none has anything new."""
        out: list[StreamEntry] = []
        for shard in range(self._shards):
            with map_redis_errors():
                reply = await self._redis.xreadgroup(
                    self.group, self.consumer, {self._stream(shard): ">"}, count=count
                )
            for _, entries in reply or []:
                out.extend(StreamEntry(shard, sid.decode(), f) for sid, f in entries)
        if not out:
            self.rewind()
            if block_ms:
                await asyncio.sleep(min(block_ms, 100) / 1000)
        return out

    async def ack(self, positions: Mapping[int, Sequence[str]]) -> None:
        """Acknowledge, then trim each stream below what every group has acknowledged."""
        with map_redis_errors():
            async with self._redis.pipeline(transaction=False) as pipe:
                for shard, ids in positions.items():
                    if ids:
                        pipe.xack(self._stream(shard), self.group, *ids)
                await pipe.execute()
            for shard, ids in positions.items():
                if ids:
                    await self._trim(self._stream(shard))

    async def _trim(self, stream: str) -> None:
        """``XTRIM MINID`` at the oldest entry some group still needs.

        A group needs its oldest pending entry, or, with none pending, everything after its
        last delivered id. Trimming is approximate (whole macro nodes), so a little more is kept.
        """
        groups = await self._redis.xinfo_groups(stream)
        floor: tuple[int, int] | None = None
        for info in groups:
            name = _text(info["name"])
            ms, seq = split_stream_id(_text(info["last-delivered-id"]))
            needed = (ms, seq + 1)
            if int(info["pending"]) > 0:
                # (its pending entries may be acknowledged meanwhile: then none is older)
                oldest = (await self._redis.xpending(stream, name)).get("min")
                if oldest is not None:
                    needed = min(needed, split_stream_id(_text(oldest)))
            floor = needed if floor is None or needed < floor else floor
        if floor is not None and floor > (0, 0):
            await self._redis.xtrim(stream, minid=f"{floor[0]}-{floor[1]}", approximate=True)

    async def pending_count(self) -> int:
        """Entries delivered to this group and not yet acknowledged, over all shards."""
        total = 0
        with map_redis_errors():
            for shard in range(self._shards):
                try:
                    info = await self._redis.xpending(self._stream(shard), self.group)
                except redis.exceptions.ResponseError:
                    continue
                total += int(info["pending"])
        return total


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
