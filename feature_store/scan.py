"""Walk every customer's features, a page at a time, for scheduled scans (birthdays, contract
ends).

SCAN over ``keys.features_pattern`` (1,000 keys a call: the keyspace holds every kind of key,
and a customer's features are one in ten of them) with one script per page that runs the page's
HMGETs (on Redis Cluster, whose scripts take one slot, a pipeline of HMGETs): it costs a pass
over the keyspace, fine every few minutes for up to a few million customers; beyond that, a
date index (a sorted set by day) would be the next step.

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

from .client import is_cluster
from .errors import map_redis_errors
from .keys import Keys

__all__ = ["scan_features"]

SCAN_COUNT = 1000
"""Keys SCAN looks at per call. With 100 a call (one page), a pass over 100,000 customers in
a keyspace of 1.2 million keys made 11,600 round trips, and the scanning process spent 40 µs of
CPU per customer; with this and the page script, 12 to 14 µs (``bench/load.py``'s data)."""

_PAGE_SCRIPT = """
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HMGET', key, unpack(ARGV)) end
return out
"""
"""A page's HMGETs in one command: a pipeline of them cost the client more per customer (one
packed command, one parsed reply and one timeout scope each) than everything else the scan does."""


async def scan_features(
    client: Any, keys: Keys, fields: Sequence[str], *, page: int = 500, rate: float | None = None
) -> AsyncIterator[list[tuple[str, dict[str, Any]]]]:
    """Pages of ``(customer_id, {field: value})`` for customers holding any of ``fields``; with
    ``rate``, at most that many customers read per second (on average since the scan began)."""
    batch: list[str] = []
    read = 0
    started = time.monotonic()
    script = None if is_cluster(client) else client.register_script(_PAGE_SCRIPT)
    count = max(page, SCAN_COUNT)
    keys_iter = client.scan_iter(match=keys.features_pattern, count=count).__aiter__()
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
            yield await _read(client, script, keys, batch, fields)
            batch = []
    if batch:
        yield await _read(client, script, keys, batch, fields)


async def _read(
    client: Any, script: Any, keys: Keys, batch: list[str], fields: Sequence[str]
) -> list[tuple[str, dict[str, Any]]]:
    with map_redis_errors():
        if script is not None:
            replies = await script(keys=batch, args=list(fields))
        else:
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
