"""The date scan's walk over every customer's features on a real Redis: every customer once,
only those holding a field asked for, no faster than the rate it is given, and through the
customer index once it is complete (profiles from before the index are added by one keyspace
walk)."""

from __future__ import annotations

import time
from typing import Any

import orjson

from feature_store import Keys, scan_features
from feature_store.customers import RedisCustomers
from feature_store.keys import INDEX_PARTS
from feature_store.scan import INDEX_RECHECK_S
from tests.services import on_redis

BIRTHDAY = "1990-05-17"


async def _seed_raw(client: Any, keys: Keys, customers: int) -> None:
    """Features hashes written as before the index (every third without a birthday)."""
    async with client.pipeline(transaction=False) as pipe:
        for n in range(customers):
            fields = {"segment": orjson.dumps("youth")}
            if n % 3:
                fields["birthday"] = orjson.dumps(BIRTHDAY)
            pipe.hset(keys.features(f"C{n}"), mapping=fields)
        await pipe.execute()


async def _walk(client: Any, keys: Keys, **options: Any) -> list[list[str]]:
    """The pages' ids of customers with the birthday."""
    return [
        [customer for customer, found in page if found == {"birthday": BIRTHDAY}]
        async for page in scan_features(client, keys, ("birthday",), **options)
    ]


async def _indexed(client: Any, keys: Keys) -> set[str]:
    ids: set[str] = set()
    for part in range(INDEX_PARTS):
        ids |= {raw.decode() for raw in await client.smembers(keys.customer_index_part(part))}
    return ids


def _scan(redis_url: str, customers: int, **options: Any) -> tuple[list[list[str]], float]:
    async def run(client: Any, prefix: str) -> tuple[list[list[str]], float]:
        keys = Keys(prefix=prefix)
        await _seed_raw(client, keys, customers)
        started = time.monotonic()
        pages = await _walk(client, keys, **options)
        return pages, time.monotonic() - started

    return on_redis(redis_url, run)


def test_every_customer_holding_a_field_is_read_once(redis_url: str) -> None:
    pages, _ = _scan(redis_url, 250, page=40)
    found = [customer for page in pages for customer in page]
    assert sorted(found) == sorted(f"C{n}" for n in range(250) if n % 3)
    assert all(len(page) <= 40 for page in pages)


def test_a_paced_scan_reads_no_faster_than_its_rate(redis_url: str) -> None:
    # 300 customers at 1,000/s in pages of 50: at least 0.25 s (the last page is read at 0.3 s)
    pages, seconds = _scan(redis_url, 300, page=50, rate=1000.0)
    assert sum(len(page) for page in pages) == 200
    assert seconds >= 0.25


def test_the_first_walk_indexes_profiles_written_before_the_index(redis_url: str) -> None:
    async def run(client: Any, prefix: str) -> None:
        keys = Keys(prefix=prefix)
        await _seed_raw(client, keys, 120)
        interrupted = scan_features(client, keys, ("birthday",), page=10)
        await interrupted.__anext__()
        await interrupted.aclose()
        assert not await client.exists(keys.customer_index_complete), "a partial walk is no index"

        first = sorted(c for page in await _walk(client, keys, page=25) for c in page)
        assert first == sorted(f"C{n}" for n in range(120) if n % 3)
        assert 0 < await client.ttl(keys.customer_index_complete) <= INDEX_RECHECK_S
        assert await _indexed(client, keys) == {f"C{n}" for n in range(120)}
        assert sorted(c for page in await _walk(client, keys, page=25) for c in page) == first

    on_redis(redis_url, run)


def test_once_complete_the_walk_reads_the_index_kept_by_put_and_delete(redis_url: str) -> None:
    async def run(client: Any, prefix: str) -> None:
        keys = Keys(prefix=prefix)
        customers = RedisCustomers(client, keys)
        for n in range(60):
            await customers.put(f"P{n}", {"birthday": BIRTHDAY} if n % 2 else {}, None)
        assert await _indexed(client, keys) == {f"P{n}" for n in range(60)}
        await _walk(client, keys)  # completes the index (nothing to add)
        # a features hash no put wrote is not in the index: a walk that finds it read the keyspace
        await client.hset(keys.features("RAW"), "birthday", orjson.dumps(BIRTHDAY))
        await customers.put("LATE", {"birthday": BIRTHDAY}, None)
        assert await customers.delete("P1")
        found = sorted(c for page in await _walk(client, keys, page=7) for c in page)
        assert found == sorted([f"P{n}" for n in range(3, 60, 2)] + ["LATE"])
        assert "P1" not in await _indexed(client, keys)
        # once the mark has expired (a day on), a walk over the keyspace indexes RAW too
        await client.delete(keys.customer_index_complete)
        rechecked = sorted(c for page in await _walk(client, keys) for c in page)
        assert rechecked == sorted(found + ["RAW"])
        assert "RAW" in await _indexed(client, keys)

    on_redis(redis_url, run)
