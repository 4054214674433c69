"""The date scan's walk over every customer's features on a real Redis: every customer once,
only those holding a field asked for, and no faster than the rate it is given."""

from __future__ import annotations

import time
from typing import Any

import orjson

from feature_store import Keys, scan_features
from tests.services import on_redis


def _scan(redis_url: str, customers: int, **options: Any) -> tuple[list[list[str]], float]:
    """Seeds ``customers`` (every third without a birthday), scans; the pages' ids, seconds."""

    async def run(client: Any, prefix: str) -> tuple[list[list[str]], float]:
        keys = Keys(prefix=prefix)
        async with client.pipeline(transaction=False) as pipe:
            for n in range(customers):
                fields = {"segment": orjson.dumps("youth")}
                if n % 3:
                    fields["birthday"] = orjson.dumps("1990-05-17")
                pipe.hset(keys.features(f"C{n}"), mapping=fields)
            await pipe.execute()
        started = time.monotonic()
        pages = [
            [customer for customer, found in page if found == {"birthday": "1990-05-17"}]
            async for page in scan_features(client, keys, ("birthday",), **options)
        ]
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
