"""What the SQL archivers read from Redis: history lines and joined interactions, typed.

Two consumer groups named ``archivers``: one on the archive streams (every customer history line,
appended by the same script or transaction that pushes the line onto the customer's list) and one
on the outcome streams (every joined outcome, beside the learners' group). Each record carries its
stream position, which the SQL tables use as their key, so a record delivered twice is stored once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from .consumer_group import ConsumerGroup, StreamEntry, split_stream_id
from .keys import Keys

__all__ = ["ArchiveReader", "HistoryLine", "InteractionRecord"]

GROUP = "archivers"


@dataclass(frozen=True, slots=True)
class HistoryLine:
    shard: int
    stream_id: str
    customer_id: str
    line: str
    """The JSON line exactly as it sits in the customer's Redis list."""

    @property
    def position(self) -> tuple[int, int, int]:
        return (self.shard, *split_stream_id(self.stream_id))

    @property
    def type(self) -> str:
        kind = orjson.loads(self.line).get("type", "")
        return str(kind)[:16]

    @classmethod
    def parse(cls, entry: StreamEntry) -> HistoryLine:
        f = entry.fields
        return cls(entry.shard, entry.stream_id, f[b"c"].decode(), f[b"e"].decode())


@dataclass(frozen=True, slots=True)
class InteractionRecord:
    """One joined outcome: the decision as logged, the offer shown, and what came of it."""

    shard: int
    stream_id: str
    decision_id: str
    offer_id: str
    customer_id: str
    channel: str
    outcome: str
    source: str
    learned: bool
    control_group: bool
    explored: bool
    probability: float | None
    propensity: float | None
    value: float | None
    model_version: int
    decided_ms: int
    context: dict[str, Any]
    attributes: dict[str, Any]
    candidates: list[str] | None

    @property
    def position(self) -> tuple[int, int, int]:
        return (self.shard, *split_stream_id(self.stream_id))

    @classmethod
    def parse(cls, entry: StreamEntry) -> InteractionRecord:
        f = {k.decode(): v.decode() for k, v in entry.fields.items()}
        ms, _ = split_stream_id(entry.stream_id)
        return cls(
            shard=entry.shard,
            stream_id=entry.stream_id,
            decision_id=f["d"],
            offer_id=f["o"],
            customer_id=f.get("c", ""),
            channel=f.get("ch", ""),
            outcome=f["y"],
            source=f.get("src", "response"),
            learned=f.get("l") == "1",
            control_group=f.get("ctl") == "1",
            explored=f.get("e") == "1",
            probability=_number(f.get("p")),
            propensity=_number(f.get("q")),
            value=_number(f.get("v")),
            model_version=int(f.get("mv") or 0),
            decided_ms=int(f.get("t") or ms),
            context=orjson.loads(f["x"]),
            attributes=orjson.loads(f["a"]),
            candidates=orjson.loads(f["k"]) if f.get("k") else None,
        )


class ArchiveReader:
    """The archivers' view of both kinds of stream, for one consumer."""

    def __init__(self, client: Any, keys: Keys, *, consumer: str = "archiver-0") -> None:
        self.history = ConsumerGroup(
            client, stream=keys.archive, shards=keys.shards, group=GROUP, consumer=consumer
        )
        self.interactions = ConsumerGroup(
            client, stream=keys.outcomes, shards=keys.shards, group=GROUP, consumer=consumer
        )

    def rewind(self) -> None:
        """After a failed batch: read this consumer's unacknowledged entries again first."""
        self.history.rewind()
        self.interactions.rewind()

    async def read_history(self, count: int, block_ms: int = 0) -> list[HistoryLine]:
        return [HistoryLine.parse(e) for e in await self.history.read(count, block_ms)]

    async def read_interactions(self, count: int, block_ms: int = 0) -> list[InteractionRecord]:
        return [InteractionRecord.parse(e) for e in await self.interactions.read(count, block_ms)]

    async def ack_history(self, lines: Sequence[HistoryLine]) -> None:
        await self.history.ack(_by_shard(lines))

    async def ack_interactions(self, records: Sequence[InteractionRecord]) -> None:
        await self.interactions.ack(_by_shard(records))


def _by_shard(items: Sequence[HistoryLine | InteractionRecord]) -> Mapping[int, list[str]]:
    out: dict[int, list[str]] = {}
    for item in items:
        out.setdefault(item.shard, []).append(item.stream_id)
    return out


def _number(raw: str | None) -> float | None:
    return float(raw) if raw else None
