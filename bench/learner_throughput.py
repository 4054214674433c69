"""Learner throughput, end to end from the Redis stream, and snapshot publish / hot-load times.

Fills the outcome stream with joined outcomes (decisions logged and outcomes recorded through the
same Redis code the API uses, 30 customer features each, 50 offers), then times one learner
draining it: read (XREADGROUP), parse, learn (in batches), checkpoint, publish, acknowledge.

    python bench/learner_throughput.py [--outcomes 20000] [--redis-url redis://127.0.0.1:6379/0]

Without --redis-url (or REDIS_URL) it starts the bundled redis-server.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from feature_store import DecisionEntry, FeatureStore, Keys, ShownOffer, connect
from feature_store.server import start_bundled_redis
from models import BanditModel, LearnerLoop, Snapshot


def customer_features(rng: random.Random) -> dict[str, object]:
    features: dict[str, object] = {
        "segment": rng.choice(["youth", "family", "business", "senior", "value"]),
        "age_band": rng.choice(["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]),
        "region": rng.choice(["north", "south", "east", "west", "capital"]),
        "products_held": rng.sample(["mobile", "fibre", "tv", "roaming", "device"], 2),
        "is_student": rng.random() < 0.1,
    }
    for n in range(15):
        features[f"num_{n}"] = round(rng.lognormvariate(2, 1), 2)
    for n in range(10):
        features[f"cat_{n}"] = f"v{rng.randint(0, 6)}"
    return features


async def fill(store: FeatureStore, n: int, seed: int, batch: int = 20) -> None:
    """Log ``n`` decisions and their outcomes, ``batch`` requests in flight (more time out
    connecting on a loaded machine)."""
    rng = random.Random(seed)
    offers = [
        {"offer.id": f"o{i}", "offer.kind": "offer", "offer.category": f"c{i % 8}",
         "offer.price_tier": ["low", "mid", "high"][i % 3]}
        for i in range(50)
    ]  # fmt: skip
    for start in range(0, n, batch):
        entries = []
        for _ in range(min(batch, n - start)):
            offer = rng.choice(offers)
            context = customer_features(rng) | {"channel": "web", "interaction": "visit"}
            entries.append(
                DecisionEntry(
                    decision_id=uuid.uuid4().hex, customer_id=f"C{rng.randint(0, 99999)}",
                    channel="web", interaction="visit", at_ms=int(time.time() * 1000),
                    model_version=0, control_group=False, context=context,
                    shown=[ShownOffer(str(offer["offer.id"]), offer, 0.1, False, None, "ignored")],
                )
            )  # fmt: skip
        await asyncio.gather(*(store.decisions.record(e) for e in entries))
        await asyncio.gather(
            *(
                store.decisions.record_outcome(
                    e.decision_id, e.shown[0].offer_id,
                    "accepted" if rng.random() < 0.1 else "declined",
                    now_ms=int(time.time() * 1000),
                )
                for e in entries
            )
        )  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--outcomes", type=int, default=20000)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=500, help="the learner's read batch size")
    parser.add_argument(
        "--concurrency", type=int, default=20, help="requests in flight while filling the stream"
    )
    args = parser.parse_args()

    bundled = None
    url = args.redis_url
    if url is None:
        bundled = start_bundled_redis(Path(tempfile.mkdtemp()), persist=False)
        url = bundled.url
    client = connect(url)
    keys = Keys(prefix=f"bench{uuid.uuid4().hex[:6]}")
    store = FeatureStore.build(client, keys)
    try:
        t0 = time.perf_counter()
        await fill(store, args.outcomes, args.seed, args.concurrency)
        fill_s = time.perf_counter() - t0
        print(
            f"filled {args.outcomes} joined outcomes in {fill_s:.1f} s "
            f"({args.outcomes / fill_s:,.0f} decision+outcome pairs/s, in-process)"
        )

        learner = LearnerLoop(store.outcome_stream(), store.models, store.models,
                              checkpoint_interval_s=1.0, batch_size=args.batch)  # fmt: skip
        await learner.restore()
        t0 = time.perf_counter()
        learned = await learner.run(until_idle=True)
        learn_s = time.perf_counter() - t0
        await learner.close()
        print(
            f"learner: {learned} outcomes in {learn_s:.2f} s = {learned / learn_s:,.0f} outcomes/s "
            "(XREADGROUP + parse + learn + checkpoints + snapshots + XACK)"
        )

        model: BanditModel = learner.state.model
        raw = random.Random(2)
        offers = [{"id": f"o{i}", "kind": "offer", "category": f"c{i % 8}",
                   "price_tier": ["low", "mid", "high"][i % 3]} for i in range(50)]  # fmt: skip
        contexts = [customer_features(raw) | {"channel": "web", "interaction": "visit"}
                    for _ in range(4000)]  # fmt: skip
        chosen = [raw.choice(offers) for _ in contexts]
        ys = [raw.random() < 0.1 for _ in contexts]

        def timed(m: BanditModel, batch: int) -> float:
            """Outcomes/s learning the probe outcomes in batches of ``batch`` (after a warm-up)."""
            m.learn_pairs(contexts[:500], chosen[:500], ys[:500])
            t0 = time.perf_counter()
            for i in range(0, len(contexts), batch):
                m.learn_pairs(contexts[i : i + batch], chosen[i : i + batch], ys[i : i + batch])
            return len(contexts) / (time.perf_counter() - t0)

        # the model alone, as the learner calls it (a batch per read), and one outcome at a time;
        # then the shared part alone (no own part, no forgetting), in the same process and
        # interleaved: on a loaded machine only such ratios mean something
        rates: dict[str, list[float]] = {"batch": [], "one": [], "shared": []}
        for _ in range(3):
            rates["batch"].append(timed(copy.deepcopy(model), 500))
            rates["one"].append(timed(copy.deepcopy(model), 1))
            rates["shared"].append(timed(BanditModel(own_dims=0, half_life=None), 500))
        best = {k: max(v) for k, v in rates.items()}
        print(f"model alone (own_dims={model.own_dims}): {best['batch']:,.0f} outcomes/s in "
              f"batches of 500, {best['one']:,.0f}/s one at a time (best of 3)")  # fmt: skip
        print(f"  shared part alone (own_dims=0, half_life=None), batches of 500: "
              f"{best['shared']:,.0f}/s; model / shared = {best['batch'] / best['shared']:.2f}; "
              f"end to end / shared = {learned / learn_s / best['shared']:.2f}")  # fmt: skip

        export, dump, load = [], [], []
        for _ in range(5):
            t0 = time.perf_counter()
            snap = model.export(version=1)
            t1 = time.perf_counter()
            data = snap.to_bytes()
            await store.models.publish_snapshot(999, data)
            t2 = time.perf_counter()
            fetched = await store.models.load_snapshot(999)
            assert fetched is not None
            Snapshot.from_bytes(fetched)
            t3 = time.perf_counter()
            export.append(t1 - t0)
            dump.append(t2 - t1)
            load.append(t3 - t2)
        print(f"snapshot: {len(data) / 1e6:.2f} MB, {snap.weights.shape[0]} context tokens x "
              f"{snap.weights.shape[1]} offer tokens")  # fmt: skip
        print(f"  export {statistics.median(export) * 1e3:.1f} ms, serialise+publish "
              f"{statistics.median(dump) * 1e3:.1f} ms, fetch+hot-load "
              f"{statistics.median(load) * 1e3:.1f} ms (medians of 5)")  # fmt: skip
    finally:
        async for key in client.scan_iter(match=f"{keys.prefix}:*"):
            await client.delete(key)
        await client.aclose()
        if bundled:
            bundled.stop()


if __name__ == "__main__":
    asyncio.run(main())
