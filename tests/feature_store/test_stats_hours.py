"""The live counters' hourly fields are forgotten once old, on a real Redis: only those, and
in pages, however many have piled up."""

from __future__ import annotations

from typing import Any

from feature_store import Keys
from feature_store.decisions import RedisDecisionLog
from tests.services import on_redis


def test_hours_before_the_cut_go_and_everything_else_stays(redis_url: str) -> None:
    async def run(client: Any, prefix: str) -> None:
        keys = Keys(prefix=prefix, shards=2)
        log = RedisDecisionLog(client, keys)
        for shard in range(2):
            fields = {f"h:{hour}:decisions": 3 for hour in range(1000, 3500)}
            fields |= {f"h:{hour}:control:accepted": 1 for hour in range(3400, 3500)}
            fields |= {"shown:o1": 7, "accepted:o1": 2, "decisions": 9, "control:decisions": 1}
            await client.hset(keys.stats(shard), mapping=fields)
        removed = await log.forget_hours(3450, page=300)
        assert removed == 2 * (2450 + 50)
        stats = await log.stats()
        assert sorted(k for k in stats if not k.startswith("h:")) == sorted(
            ["shown:o1", "accepted:o1", "decisions", "control:decisions"]
        )
        assert stats["shown:o1"] == 14
        hours = {int(k.split(":")[1]) for k in stats if k.startswith("h:")}
        assert hours == set(range(3450, 3500))
        assert await log.forget_hours(3450) == 0

    on_redis(redis_url, run)
