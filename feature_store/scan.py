"""Walk every customer's features, a page at a time, for scheduled scans (birthdays, contract
ends).

The walk goes over the customer index (``keys.customer_index``: sets of the ids of customers with
a profile, kept by :meth:`RedisCustomers.put` and ``delete``) with SSCAN, so a pass costs in
proportion to the customers, not to the keyspace. The keyspace is mostly decision logs (two days
of them): SCAN over the whole of it, as the walk did before the index, read 2.27 million keys
for 100,000 customers on ``bench/load.py``'s Redis after a few runs. Each page of ids is read with
one script that runs the page's HMGETs (on Redis Cluster, whose scripts take one slot, a pipeline
of HMGETs).

Profiles written before the index existed: until ``keys.customer_index_complete`` is set, a walk
SCANs the keyspace for features hashes as before, adds every id it meets to the index, and sets the
mark when it has seen them all; from the next walk on, the index is enough. The mark expires after
a day (``INDEX_RECHECK_S``), so once a day a walk goes over the keyspace again: a profile saved by
a worker still on older code during a rolling upgrade, or restored into Redis by hand, is indexed
within a day, at the cost of one keyspace walk a day instead of one every few minutes.

A scan shares Redis and the machine's cores with live decisions, so it can be paced (``rate``:
customers read per second at most). ``bench/date_scan.py`` measures a pass both ways.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson

from .client import is_cluster
from .errors import map_redis_errors
from .keys import INDEX_PARTS, Keys

__all__ = ["scan_features"]

SCAN_COUNT = 1000
"""Keys SCAN (or SSCAN) looks at per call. With 100 a call (one page), a keyspace SCAN over
100,000 customers in a keyspace of 1.2 million keys made 11,600 round trips, and the scanning
process spent 40 µs of CPU per customer; with this and the page script, 12 to 14 µs
(``bench/load.py``'s data)."""

INDEX_RECHECK_S = 86400
"""How long the index is trusted as complete before a walk goes over the keyspace again."""

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
    with map_redis_errors():
        indexed = bool(await client.exists(keys.customer_index_complete))
    script = None if is_cluster(client) else client.register_script(_PAGE_SCRIPT)
    count = max(page, SCAN_COUNT)
    ids = _indexed_ids(client, keys, count) if indexed else _profile_ids(client, keys, count)
    batch: list[str] = []
    read = 0
    started = time.monotonic()
    while True:
        with map_redis_errors():  # around each await only: never around our caller's code
            try:
                customer_id = await ids.__anext__()
            except StopAsyncIteration:
                break
        batch.append(customer_id)
        if len(batch) >= page:
            if rate:
                read += len(batch)
                await asyncio.sleep(started + read / rate - time.monotonic())
            yield await _read_page(client, script, keys, batch, fields, index=not indexed)
            batch = []
    if batch:
        yield await _read_page(client, script, keys, batch, fields, index=not indexed)
    if not indexed:
        with map_redis_errors():
            await client.set(keys.customer_index_complete, b"1", ex=INDEX_RECHECK_S)


async def _indexed_ids(client: Any, keys: Keys, count: int) -> AsyncIterator[str]:
    for part in range(INDEX_PARTS):
        async for raw in client.sscan_iter(keys.customer_index_part(part), count=count):
            yield raw.decode() if isinstance(raw, bytes) else raw


async def _profile_ids(client: Any, keys: Keys, count: int) -> AsyncIterator[str]:
    """Ids of every features hash in the keyspace: the walk before the index is complete."""
    async for raw in client.scan_iter(match=keys.features_pattern, count=count):
        yield keys.customer_of_features(raw.decode() if isinstance(raw, bytes) else raw)


async def _read_page(
    client: Any,
    script: Any,
    keys: Keys,
    batch: list[str],
    fields: Sequence[str],
    *,
    index: bool,
) -> list[tuple[str, dict[str, Any]]]:
    """The page's customers holding any of ``fields``; with ``index``, first adds the page's ids
    to the customer index (the walk that completes it)."""
    with map_redis_errors():
        if index:
            parts: dict[str, list[str]] = {}
            for customer_id in batch:
                parts.setdefault(keys.customer_index(customer_id), []).append(customer_id)
            async with client.pipeline(transaction=False) as pipe:
                for part, ids in parts.items():
                    pipe.sadd(part, *ids)
                await pipe.execute()
        return await _read(client, script, keys, batch, fields)


async def _read(
    client: Any, script: Any, keys: Keys, batch: list[str], fields: Sequence[str]
) -> list[tuple[str, dict[str, Any]]]:
    feature_keys = [keys.features(customer_id) for customer_id in batch]
    if script is not None:
        replies = await script(keys=feature_keys, args=list(fields))
    else:
        async with client.pipeline(transaction=False) as pipe:
            for key in feature_keys:
                pipe.hmget(key, list(fields))
            replies = await pipe.execute()
    out = []
    for customer_id, values in zip(batch, replies, strict=True):
        found = {}
        for name, raw in zip(fields, values, strict=True):
            if raw is not None:
                try:
                    found[name] = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue
        if found:
            out.append((customer_id, found))
    return out
