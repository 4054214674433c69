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
        f = {k.decode(): v.decode() for k, v in fields.items()}
        return cls(
            shard=shard,
            stream_id=stream_id,
            decision_id=f["d"],
            offer_id=f["o"],
            outcome=f["y"],
            learn=f.get("l") == "1",
            source=f.get("src", "response"),
            context=orjson.loads(f["x"]),
            attributes=orjson.loads(f["a"]),
            probability=float(f["p"]) if f.get("p") else None,
            propensity=float(f["q"]) if f.get("q") else None,
            customer_id=f.get("c", ""),
            channel=f.get("ch", ""),
            control_group=f.get("ctl") == "1",
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
