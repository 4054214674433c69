"""The outcome stream, read by the learner's consumer group (one stream per shard).

``read`` first drains this consumer's own pending entries (delivered before a crash, never
acknowledged), then new ones, so a restarted learner sees everything it had not checkpointed, in
stream order. The learner acknowledges only after its checkpoint is saved, then trims what it has
acknowledged (``XTRIM MINID``): nothing is trimmed before it is learned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis.exceptions

from .errors import map_redis_errors
from .keys import Keys

__all__ = ["RedisOutcomeStream", "StreamOutcome"]

GROUP = "learners"


@dataclass(frozen=True, slots=True)
class StreamOutcome:
    """One joined outcome as it sits on the stream."""

    shard: int
    stream_id: str
    decision_id: str
    offer_id: str
    outcome: str
    learn: bool
    source: str
    context: dict[str, Any]
    attributes: dict[str, Any]
    probability: float | None
    propensity: float | None
    customer_id: str
    channel: str
    control_group: bool

    @property
    def accepted(self) -> bool:
        return self.outcome == "accepted"

    def example(self) -> dict[str, Any]:
        return {**self.context, **self.attributes}

    def parts(self) -> tuple[dict[str, Any], dict[str, Any]]:
        offer = {k[6:] if k.startswith("offer.") else k: v for k, v in self.attributes.items()}
        return self.context, offer

    @classmethod
    def parse(cls, shard: int, stream_id: str, fields: Mapping[bytes, bytes]) -> StreamOutcome:
        # the learner parses every outcome: look fields up as bytes and let orjson read the JSON
        # bytes directly, rather than decoding every field into a str dict first
        get = fields.get
        p, q = get(b"p"), get(b"q")
        return cls(
            shard=shard,
            stream_id=stream_id,
            decision_id=fields[b"d"].decode(),
            offer_id=fields[b"o"].decode(),
            outcome=fields[b"y"].decode(),
            learn=get(b"l") == b"1",
            source=get(b"src", b"response").decode(),
            context=orjson.loads(fields[b"x"]),
            attributes=orjson.loads(fields[b"a"]),
            probability=float(p) if p else None,
            propensity=float(q) if q else None,
            customer_id=get(b"c", b"").decode(),
            channel=get(b"ch", b"").decode(),
            control_group=get(b"ctl") == b"1",
        )


class RedisOutcomeStream:
    """Implements :class:`models.OutcomeSource` for one learner consumer."""

    def __init__(self, client: Any, keys: Keys, *, consumer: str = "learner-0") -> None:
        self._redis = client
        self._keys = keys
        self.consumer = consumer
        self._pending_cursor: dict[int, str] = {}
        self._drained_pending: set[int] = set()
        self._groups_ready = False

    async def ensure_groups(self) -> None:
        """Create each shard's consumer group; an existing group (BUSYGROUP) is fine."""
        for shard in range(self._keys.shards):
            try:
                with map_redis_errors():
                    await self._redis.xgroup_create(
                        self._keys.outcomes(shard), GROUP, id="0", mkstream=True
                    )
            except Exception as exc:  # noqa: BLE001
                cause = exc.__cause__ or exc
                if not (
                    isinstance(cause, redis.exceptions.ResponseError) and "BUSYGROUP" in str(cause)
                ):
                    raise
        self._groups_ready = True

    async def read(self, count: int, block_ms: int) -> Sequence[StreamOutcome]:
        if not self._groups_ready:
            await self.ensure_groups()
        k = self._keys
        out: list[StreamOutcome] = []
        for shard in range(k.shards):
            if shard not in self._drained_pending:
                with map_redis_errors():
                    reply = await self._redis.xreadgroup(
                        GROUP,
                        self.consumer,
                        {k.outcomes(shard): self._pending_cursor.get(shard, "0")},
                        count=count,
                    )
                entries = reply[0][1] if reply else []
                if not entries:
                    self._drained_pending.add(shard)
                else:
                    self._pending_cursor[shard] = entries[-1][0].decode()
                out.extend(self._parse(shard, entries))
        if out:
            return out
        streams = {k.outcomes(shard): ">" for shard in range(k.shards)}
        with map_redis_errors():
            reply = await self._redis.xreadgroup(
                GROUP, self.consumer, streams, count=count, block=block_ms or None
            )
        for name, entries in reply or []:
            shard = int(name.decode().split("{o:")[1].split("}")[0])
            out.extend(self._parse(shard, entries))
        return out

    @staticmethod
    def _parse(shard: int, entries: list[Any]) -> list[StreamOutcome]:
        return [StreamOutcome.parse(shard, sid.decode(), fields) for sid, fields in entries]

    async def ack(self, positions: Mapping[int, Sequence[str]]) -> None:
        with map_redis_errors():
            async with self._redis.pipeline(transaction=False) as pipe:
                for shard, ids in positions.items():
                    if ids:
                        stream = self._keys.outcomes(shard)
                        pipe.xack(stream, GROUP, *ids)
                        pipe.xtrim(stream, minid=max(ids, key=_id_key), approximate=True)
                await pipe.execute()

    async def pending_count(self) -> int:
        total = 0
        with map_redis_errors():
            for shard in range(self._keys.shards):
                try:
                    info = await self._redis.xpending(self._keys.outcomes(shard), GROUP)
                except redis.exceptions.ResponseError:
                    continue
                total += int(info["pending"])
        return total

    async def lag(self) -> int:
        """Entries on the streams not yet acknowledged, delivered or not."""
        total = 0
        with map_redis_errors():
            for shard in range(self._keys.shards):
                total += int(await self._redis.xlen(self._keys.outcomes(shard)))
        return total


def _id_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)
