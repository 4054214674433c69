"""A date-scan pass over the customer index against one over the keyspace, in the same run.

Seeds ``--customers`` profiles (features hashes with a birthday on one in 365, indexed as
``RedisCustomers.put`` indexes them) and ``--other-keys`` decision-log hashes (the keys that fill
a serving Redis: two days of decisions), then times ``feature_store.scan_features`` twice:

- the first walk, before the index is marked complete: SCAN over the whole keyspace for features
  hashes, adding each id to the index (what every pass cost before the index, plus the adds);
- the walk after it, over the index alone.

For each: wall seconds, this process's CPU seconds, Redis's CPU seconds (``INFO cpu``), and the
customers found; then the ratio keyspace / index. Unpaced (no ``rate``), as fast as one client
walks.

    python bench/date_scan.py --redis-url redis://127.0.0.1:6379/9 [--customers 100000]
        [--other-keys 1000000]

Run it on a Redis nothing else is using: Redis's CPU is the whole server's.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import drop_prefix  # noqa: E402
from feature_store import Keys, scan_features  # noqa: E402

PREFIX = "nbodatescan"
BATCH = 2000


async def seed(client: aioredis.Redis, keys: Keys, customers: int, other: int) -> None:
    for start in range(0, customers, BATCH):
        async with client.pipeline(transaction=False) as pipe:
            for n in range(start, min(start + BATCH, customers)):
                cid = f"C{n:07d}"
                fields = {"segment": orjson.dumps("family"), "tenure_months": orjson.dumps(n % 97)}
                if n % 365 == 0:
                    fields["birthday"] = orjson.dumps("05-17")
                pipe.hset(keys.features(cid), mapping=fields)
                pipe.sadd(keys.customer_index(cid), cid)
            await pipe.execute()
    for start in range(0, other, BATCH):
        async with client.pipeline(transaction=False) as pipe:
            for n in range(start, min(start + BATCH, other)):
                pipe.hset(keys.decision(f"d{n:08d}", 0), mapping={"customer": "C1", "x": "{}"})
            await pipe.execute()


async def redis_cpu(client: aioredis.Redis) -> float:
    info: dict[str, Any] = await client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


async def walk(client: aioredis.Redis, keys: Keys) -> dict[str, float]:
    cpu0, redis0, wall0 = time.process_time(), await redis_cpu(client), time.perf_counter()
    found = 0
    async for page in scan_features(client, keys, ("birthday", "contract_end_date"), page=100):
        found += len(page)
    return {
        "wall_s": time.perf_counter() - wall0,
        "client_cpu_s": time.process_time() - cpu0,
        "redis_cpu_s": await redis_cpu(client) - redis0,
        "found": found,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--other-keys", type=int, default=1_000_000)
    args = parser.parse_args()
    client = aioredis.from_url(args.redis_url)
    keys = Keys(prefix=PREFIX)
    try:
        await drop_prefix(client, PREFIX)
        t0 = time.perf_counter()
        await seed(client, keys, args.customers, args.other_keys)
        print(f"seeded {args.customers:,} customers and {args.other_keys:,} other keys "
              f"in {time.perf_counter() - t0:.0f} s; dbsize {await client.dbsize():,}")  # fmt: skip
        keyspace = await walk(client, keys)
        index = await walk(client, keys)
        for name, row in (("keyspace (first walk, indexing)", keyspace), ("index", index)):
            print(f"{name:>32}: {row['wall_s']:6.2f} s wall, {row['client_cpu_s']:6.2f} s "
                  f"client CPU, {row['redis_cpu_s']:6.2f} s Redis CPU, "
                  f"{row['found']:,} found")  # fmt: skip
        print("keyspace / index: " + ", ".join(
            f"{k} {keyspace[k] / max(index[k], 1e-9):.1f}x"
            for k in ("wall_s", "client_cpu_s", "redis_cpu_s")))  # fmt: skip
    finally:
        await drop_prefix(client, PREFIX)
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
