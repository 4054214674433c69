"""Customer events ingested per second: the Redis script alone, and through the HTTP API.

In-process, the event store (one Lua script per event: dedupe, aggregates, history) is timed one
event at a time, with 32 in flight, and in pipelined batches of 1000. Through HTTP, a real
``nbo serve`` (uvicorn with uvloop and httptools, as deployed) takes ``POST /v1/events`` with
``--in-flight`` requests in flight, and ``POST /v1/events/bulk`` with batches of 1000. Events go
to 10,000 customers (page views, purchases with a value, complaints), each with a sender id, at
times spread over the last 30 days; no trigger matches, so this is the ingestion path alone.

    python bench/events.py [--events 20000] [--workers 1] [--in-flight 8]
                           [--redis-url redis://127.0.0.1:6379/0]

Without --redis-url (or REDIS_URL) it starts the bundled redis-server. The client runs on the
same machine as the server and Redis, so all three share its cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import redis

from feature_store import CustomerEvent, Keys, RedisEvents, connect
from feature_store.server import free_port, start_bundled_redis

TYPES = ("page_view", "page_view", "page_view", "purchase", "complaint")


def make_events(n: int, rng: random.Random, tag: str) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        kind = rng.choice(TYPES)
        props: dict[str, Any] = {"channel": rng.choice(["web", "app", "call_center"])}
        if kind == "purchase":
            props["value"] = round(rng.uniform(5, 300), 2)
        at = now - timedelta(minutes=rng.randint(0, 30 * 1440))
        out.append(
            {"customer_id": f"C{rng.randint(0, 9999):05d}", "type": kind, "id": f"{tag}{i}",
             "at": at.isoformat(), "properties": props}
        )  # fmt: skip
    return out


def to_event(body: dict[str, Any]) -> CustomerEvent:
    at = datetime.fromisoformat(body["at"])
    return CustomerEvent(
        body["customer_id"], body["type"], int(at.timestamp() * 1000), id=body["id"],
        properties=body["properties"],
    )  # fmt: skip


async def bounded(n_in_flight: int, jobs: list[Any]) -> list[float]:
    """Run coroutine factories with n in flight; returns each one's latency (s)."""
    gate = asyncio.Semaphore(n_in_flight)
    latencies: list[float] = []

    async def one(job: Any) -> None:
        async with gate:
            t0 = time.perf_counter()
            await job()
            latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(one(j) for j in jobs))
    return latencies


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>9,.0f} events/s"


async def in_process(url: str, n: int, rng: random.Random) -> None:
    client = connect(url, max_connections=64)
    keys = Keys(prefix=f"bench{uuid.uuid4().hex[:6]}")
    store = RedisEvents(client, keys)
    try:
        events = [to_event(b) for b in make_events(n, rng, "a")]
        t0 = time.perf_counter()
        for e in events[: n // 4]:
            await store.record(e)
        print(f"  store.record, one at a time       {rate(n // 4, time.perf_counter() - t0)}")
        events = [to_event(b) for b in make_events(n, rng, "b")]
        t0 = time.perf_counter()
        await bounded(32, [lambda e=e: store.record(e) for e in events])
        print(f"  store.record, 32 in flight        {rate(n, time.perf_counter() - t0)}")
        events = [to_event(b) for b in make_events(n, rng, "c")]
        t0 = time.perf_counter()
        for start in range(0, n, 1000):
            await store.record_many(events[start : start + 1000])
        print(f"  store.record_many, batches 1000   {rate(n, time.perf_counter() - t0)}")
        t0 = time.perf_counter()
        for start in range(0, n, 1000):
            flags = await store.record_many(events[start : start + 1000])
            assert not any(flags)
        print(f"  the same again (all duplicates)   {rate(n, time.perf_counter() - t0)}")
    finally:
        async for key in client.scan_iter(match=f"{keys.prefix}:*", count=1000):
            await client.delete(key)
        await client.aclose()


def start_server(
    redis_url: str, workers: int, data: Path, prefix: str
) -> tuple[subprocess.Popen[bytes], str, str]:
    """``nbo serve`` on a free port; returns the process, its URL and its admin key."""
    port = free_port()
    admin = f"bench-{uuid.uuid4().hex}"
    env = os.environ | {
        "REDIS_URL": redis_url, "DATABASE_URL": f"sqlite:///{data / 'nbo.db'}",
        "NBO_DATA_DIR": str(data), "NBO_ADMIN_KEY": admin, "NBO_KEY_PREFIX": prefix,
    }  # fmt: skip
    cmd = [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers",
           str(workers), "--no-learner", "--log-level", "warning"]  # fmt: skip
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process, f"http://127.0.0.1:{port}", admin
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError("nbo serve did not start")


async def over_http(base_url: str, admin: str, n: int, rng: random.Random, in_flight: int) -> None:
    headers = {"Authorization": f"Bearer {admin}"}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=60
    ) as http:
        single = n // 4  # one request per event is slow: a quarter is plenty to time
        events = make_events(single, rng, "h")

        async def post(body: dict[str, Any]) -> None:
            response = await http.post("/v1/events", json=body)
            assert response.status_code == 202, response.text

        t0 = time.perf_counter()
        latencies = await bounded(in_flight, [lambda b=b: post(b) for b in events])
        elapsed = time.perf_counter() - t0
        lat = sorted(latencies)
        print(
            f"  POST /v1/events, {in_flight:>2} in flight    {rate(single, elapsed)}   "
            f"(p50 {statistics.median(lat) * 1e3:.1f} ms, p99 {lat[int(0.99 * len(lat))] * 1e3:.1f}"
            " ms)"
        )
        events = make_events(n, rng, "k")

        async def bulk(batch: list[dict[str, Any]]) -> None:
            response = await http.post("/v1/events/bulk", json={"events": batch})
            assert response.status_code == 202, response.text
            assert response.json()["recorded"] == len(batch)

        batches = [events[s : s + 1000] for s in range(0, n, 1000)]
        t0 = time.perf_counter()
        await bounded(4, [lambda b=b: bulk(b) for b in batches])
        print(f"  POST /v1/events/bulk, 1000 each, 4 in flight {rate(n, time.perf_counter() - t0)}")


def drop_prefix(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)
    finally:
        client.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    bundled = None
    url = args.redis_url
    if url is None:
        bundled = start_bundled_redis(Path(tempfile.mkdtemp()), persist=False)
        url = bundled.url
    try:
        print(f"in-process event store ({args.events} events, Redis {url})")
        await in_process(url, args.events, rng)
        prefix = f"bench{uuid.uuid4().hex[:6]}"
        with tempfile.TemporaryDirectory() as data:
            process, base_url, admin = start_server(url, args.workers, Path(data), prefix)
            try:
                print(f"through HTTP (nbo serve --workers {args.workers}, uvloop + httptools)")
                await over_http(base_url, admin, args.events, rng, args.in_flight)
            finally:
                process.terminate()
                process.wait(timeout=30)
                drop_prefix(url, prefix)
    finally:
        if bundled is not None:
            bundled.stop()


if __name__ == "__main__":
    asyncio.run(main())
