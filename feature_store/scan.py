"""Walk every customer's features, a page at a time, for scheduled scans (birthdays, contract
ends).

SCAN over ``keys.features_pattern`` with a pipelined HMGET per page: it costs a pass over the
keyspace, fine every few minutes for up to a few million customers; beyond that, a date index
(a sorted set by day) would be the next step.

A scan shares Redis and the machine's cores with live decisions, so it can be paced (``rate``:
customers read per second at most). Unpaced, a pass over 100,000 customers took 5.6 s and 5.8
CPU-seconds (4.1 s in the scanning process, 1.7 s in Redis): for those seconds the learner process
and Redis took about a core from the workers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson

from .errors import map_redis_errors
from .keys import Keys

__all__ = ["scan_features"]


async def scan_features(
    client: Any, keys: Keys, fields: Sequence[str], *, page: int = 500, rate: float | None = None
) -> AsyncIterator[list[tuple[str, dict[str, Any]]]]:
    """Pages of ``(customer_id, {field: value})`` for customers holding any of ``fields``; with
    ``rate``, at most that many customers read per second (on average since the scan began)."""
    batch: list[str] = []
    read = 0
    started = time.monotonic()
    keys_iter = client.scan_iter(match=keys.features_pattern, count=page).__aiter__()
    while True:
        with map_redis_errors():  # around each await only: never around our caller's code
            try:
                raw_key = await keys_iter.__anext__()
            except StopAsyncIteration:
                break
        batch.append(raw_key.decode() if isinstance(raw_key, bytes) else raw_key)
        if len(batch) >= page:
            if rate:
                read += len(batch)
                await asyncio.sleep(started + read / rate - time.monotonic())
            yield await _read(client, keys, batch, fields)
            batch = []
    if batch:
        yield await _read(client, keys, batch, fields)


async def _read(
    client: Any, keys: Keys, batch: list[str], fields: Sequence[str]
) -> list[tuple[str, dict[str, Any]]]:
    with map_redis_errors():
        async with client.pipeline(transaction=False) as pipe:
            for key in batch:
                pipe.hmget(key, list(fields))
            replies = await pipe.execute()
    out = []
    for key, values in zip(batch, replies, strict=True):
        found = {}
        for name, raw in zip(fields, values, strict=True):
            if raw is not None:
                try:
                    found[name] = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue
        if found:
            out.append((keys.customer_of_features(key), found))
    return out
