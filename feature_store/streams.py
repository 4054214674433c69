"""The outcome stream, read by the learner's consumer group (one stream per shard).

Reading goes through :class:`~feature_store.consumer_group.ConsumerGroup`: this consumer's own
pending entries first (delivered before a crash, never acknowledged), then new ones, so a restarted
learner sees everything it had not checkpointed, in stream order. The learner acknowledges only
after its checkpoint is saved; the stream is trimmed only below what every group (the learners
and the SQL archiver) has acknowledged: nothing is trimmed before it is learned and archived.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from .archive import GROUP as ARCHIVERS
from .consumer_group import ConsumerGroup
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
        self._group = ConsumerGroup(
            client, stream=keys.outcomes, shards=keys.shards, group=GROUP, consumer=consumer
        )
        self._ready = False
        self._archivers = ConsumerGroup(
            client, stream=keys.outcomes, shards=keys.shards, group=ARCHIVERS, consumer=consumer
        )

    async def ensure_groups(self) -> None:
        """The learners' group, and the archivers' beside it: the stream is trimmed only below
        what every existing group has acknowledged, so the archivers' group must exist before
        the first learned entry is trimmed."""
        await self._group.ensure()
        await self._archivers.ensure()

    async def read(self, count: int, block_ms: int) -> Sequence[StreamOutcome]:
        if not self._ready:
            await self.ensure_groups()
            self._ready = True
        entries = await self._group.read(count, block_ms)
        return [StreamOutcome.parse(e.shard, e.stream_id, e.fields) for e in entries]

    async def ack(self, positions: Mapping[int, Sequence[str]]) -> None:
        await self._group.ack(positions)

    async def pending_count(self) -> int:
        return await self._group.pending_count()

    async def lag(self) -> int:
        """Entries on the streams not yet acknowledged, delivered or not."""
        total = 0
        with map_redis_errors():
            for shard in range(self._keys.shards):
                total += int(await self._redis.xlen(self._keys.outcomes(shard)))
        return total
