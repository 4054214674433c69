"""The latency real-time aggregates add to a decision, measured in one process and one run.

Customers are seeded in four groups that differ only in their event history (none, 30, 300 and
3,000 events spread over the last 30 days, mixed types with values). Decisions for the four
groups are interleaved (so drift in machine load hits them alike) through the real funnel
(``Decider.decide``: the read pipeline with the aggregates hash, their fold into features,
eligibility, contact policy, scoring, arbitration, the decision-log script) on the demo catalogue,
and the aggregate fold alone (``aggregate_features``) is timed on the same hashes.

    python bench/aggregate_latency.py [--decisions 4000] [--redis-url redis://127.0.0.1:6379/0]

Prints p50 / p99 per group and each group's difference from the group with no events.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.demo import demo_customers
from app.runtime import Runtime
from app.seeding import seed_demo
from app.settings import Settings
from decisioning import DecisionRequest, aggregate_features
from feature_store import CustomerEvent

GROUPS = (0, 30, 300, 3000)
CUSTOMERS_PER_GROUP = 40
TYPES = ("page_view", "purchase", "complaint", "support_chat", "payment")


def _events(customer_id: str, n: int, rng: random.Random) -> list[CustomerEvent]:
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        at = now - timedelta(minutes=rng.randint(0, 30 * 1440))
        kind = rng.choice(TYPES)
        props = {"value": round(rng.uniform(1, 200), 2)} if kind in ("purchase", "payment") else {}
        out.append(
            CustomerEvent(
                customer_id=customer_id,
                type=kind,
                at_ms=int(at.timestamp() * 1000),
                id=f"{customer_id}-{i}",
                properties=props,
            )
        )
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            redis_url=args.redis_url,
            database_url=f"sqlite:///{Path(tmp) / 'bench.db'}",
            data_dir=Path(tmp),
            key_prefix=f"bench{uuid.uuid4().hex[:8]}",
            embedded_learner=False,
            seed=1,
        )
        runtime = await Runtime.open(settings)
        try:
            await run(runtime, args)
        finally:
            client = runtime.store.client
            keys = [k async for k in client.scan_iter(match=f"{settings.key_prefix}:*")]
            for start in range(0, len(keys), 500):
                await client.delete(*keys[start : start + 500])
            await runtime.close()


async def run(runtime: Runtime, args: argparse.Namespace) -> None:
    rng = random.Random(5)
    await seed_demo(runtime, customers=0)
    profiles = demo_customers(len(GROUPS) * CUSTOMERS_PER_GROUP, seed=11)
    groups: dict[int, list[str]] = {g: [] for g in GROUPS}
    for n, profile in enumerate(profiles):
        group = GROUPS[n % len(GROUPS)]
        customer_id = f"G{group}-{n}"
        await runtime.store.customers.put(customer_id, profile["features"], profile["consent"])
        events = _events(customer_id, group, rng)
        for start in range(0, len(events), 1000):
            await runtime.store.events.record_many(events[start : start + 1000])
        groups[group].append(customer_id)

    fold: dict[int, list[float]] = {g: [] for g in GROUPS}
    for group, customers in groups.items():
        for customer_id in customers:
            raw = await runtime.store.events.raw(customer_id)
            now_ms = int(time.time() * 1000)
            for _ in range(20):
                t0 = time.perf_counter()
                aggregate_features(raw, now_ms)
                fold[group].append((time.perf_counter() - t0) * 1e6)

    latency: dict[int, list[float]] = {g: [] for g in GROUPS}
    channels = ("web", "call_center", "app")
    for i in range(args.decisions):
        group = GROUPS[i % len(GROUPS)]
        customer_id = rng.choice(groups[group])
        request = DecisionRequest(customer_id, rng.choice(channels), "visit")
        t0 = time.perf_counter()
        await runtime.decider.decide(request)
        latency[group].append((time.perf_counter() - t0) * 1e3)

    base50, base99 = _pct(latency[0], 0.5), _pct(latency[0], 0.99)
    print(f"decisions: {args.decisions} interleaved over {len(GROUPS)} groups; one process")
    print(
        "events/customer  fold p50 µs  fold p99 µs  decide p50 ms  decide p99 ms  Δp50 ms  Δp99 ms"
    )
    for group in GROUPS:
        d50, d99 = _pct(latency[group], 0.5), _pct(latency[group], 0.99)
        f50, f99 = statistics.median(fold[group]), _pct(fold[group], 0.99)
        print(
            f"{group:>15}  {f50:>11.1f}  {f99:>11.1f}  {d50:>13.2f}  {d99:>13.2f}"
            f"  {d50 - base50:>+7.2f}  {d99 - base99:>+7.2f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--decisions", type=int, default=4000)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    asyncio.run(main(parser.parse_args()))
