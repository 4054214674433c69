"""Redis CPU per decision write: the one script that reserves contacts and logs a decision.

The decision write is the costliest thing a decision asks of Redis, and Redis shares the
machine's two cores with the workers: each µs of server time is one the workers do not get.
This records ``--decisions`` decisions shaped as ``bench/load.py``'s (the customer's 30 features
and aggregates as context, one shown offer with its attributes, a cap and an outcome window)
through ``RedisDecisionLog.record`` and prints, from ``INFO commandstats``:

- the server's µs per write (the script's call, all it runs inside included);
- what the commands inside cost, each per write, and so what the script's own Lua costs;
- this process's CPU µs per write (packing the payload, the client side).

    python bench/decision_log_cost.py --redis-url redis://127.0.0.1:6379/8 [--decisions 5000]

``INFO commandstats`` is the whole server's: run it on a Redis nothing else is using.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import customer_features, drop_prefix, offer_bodies  # noqa: E402
from feature_store import Keys  # noqa: E402
from feature_store.decisions import (  # noqa: E402
    ContactReservation,
    DecisionEntry,
    RedisDecisionLog,
    ShownOffer,
)
from feature_store.wire import Wire  # noqa: E402

PREFIX = "nbologcost"


def entry(n: int, offers: list[tuple[str, dict[str, Any]]], now_ms: int) -> DecisionEntry:
    offer_id, body = offers[n % len(offers)]
    context: dict[str, Any] = dict(customer_features(n))
    context.update(
        {
            "purchase_count_24h": n % 3,
            "page_view_count_1h": n % 7,
            "value_tier": "gold",
            "channel": "web",
            "interaction": "visit",
            "daypart": "afternoon",
            "context.page": "home",
        }
    )
    attributes = {"offer.id": offer_id, "offer.kind": body["kind"]}
    attributes.update({f"offer.{k}": v for k, v in body["attributes"].items()})
    return DecisionEntry(
        decision_id=secrets.token_hex(16),
        customer_id=f"C{n:06d}",
        channel="web",
        interaction="visit",
        at_ms=now_ms,
        model_version=12,
        control_group=False,
        context=context,
        shown=[
            ShownOffer(
                offer_id=offer_id,
                attributes=attributes,
                probability=0.4312,
                explored=False,
                window_s=86400,
                default_outcome="ignored",
                propensity=0.0712,
            )
        ],
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    parser.add_argument("--decisions", type=int, default=5000)
    parser.add_argument("--customers", type=int, default=2000)
    args = parser.parse_args()

    client = aioredis.Redis.from_url(args.redis_url)
    keys = Keys(prefix=PREFIX)
    await drop_prefix(client, PREFIX)
    log = RedisDecisionLog(client, keys, wire=Wire.for_client(client))
    offers = list(offer_bodies(100).items())
    history = {"type": "decision", "at": "2026-12-07T12:00:00+00:00", "channel": "web"}
    now_ms = int(time.time() * 1000)

    writes = [
        (
            entry(n % args.customers, offers, now_ms),
            ContactReservation(caps=[(offers[n % 100][0], 3, 7 * 86400 * 1000)]),
        )
        for n in range(args.decisions + 200)
    ]
    for decision, reservation in writes[:200]:  # the script loaded, the connection open
        await log.record(decision, history, reservation)
    await client.config_resetstat()
    cpu0 = time.process_time()
    for decision, reservation in writes[200:]:
        await log.record(decision, history, reservation)
    cpu = time.process_time() - cpu0
    stats = await client.info("commandstats")
    await drop_prefix(client, PREFIX)
    await client.aclose()

    per = args.decisions
    script = stats.get("cmdstat_evalsha", {}).get("usec", 0) / per
    inner = {
        name.removeprefix("cmdstat_"): value["usec"] / per
        for name, value in stats.items()
        if name not in ("cmdstat_evalsha", "cmdstat_config|resetstat", "cmdstat_info")
    }
    print(f"# {per:,} decision writes, Redis at {args.redis_url}")
    print(f"server µs per write (script, all inside): {script:6.1f}")
    for name, usec in sorted(inner.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<16} {usec:6.1f}")
    print(f"  the script's own Lua (the rest): {script - sum(inner.values()):6.1f}")
    print(f"client CPU µs per write: {cpu / per * 1e6:6.1f}")


if __name__ == "__main__":
    asyncio.run(main())
