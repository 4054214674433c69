"""SQL archiver throughput: history lines and joined interactions moved from Redis into SQL.

Fills the streams through the same Redis code the API uses (decisions with their history line,
outcomes joined and streamed, the outcome's history line), then times one archiver draining
both consumer groups into the database (batches of 500, one transaction each, then XACK).

    python bench/archive_throughput.py [--decisions 10000] [--redis-url redis://127.0.0.1:6379/0]
                                       [--database-url postgresql://postgres@127.0.0.1:5432/test]

Without --database-url it archives into a SQLite file; without --redis-url it starts the bundled
redis-server. Each decision yields three archived rows (two history lines, one interaction).
It prints rows/s and the CPU per row of this process (the archiver: stream reads, SQL writes)
and, on a local PostgreSQL, of the server's processes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import tempfile
import time
import uuid
from pathlib import Path

from learner_throughput import customer_features
from sqlalchemy import text

from decisioning import make_engine, migrate
from decisioning.archive import Archiver, SqlArchive
from feature_store import DecisionEntry, FeatureStore, Keys, ShownOffer, connect
from feature_store.server import start_bundled_redis


async def fill(store: FeatureStore, n: int, rng: random.Random) -> None:
    batch = 20
    for start in range(0, n, batch):
        entries = []
        for _ in range(min(batch, n - start)):
            offer = {"offer.id": f"o{rng.randint(0, 49)}", "offer.category": "c1"}
            entries.append(
                DecisionEntry(
                    decision_id=uuid.uuid4().hex, customer_id=f"C{rng.randint(0, 99999)}",
                    channel="web", interaction="visit", at_ms=int(time.time() * 1000),
                    model_version=1, control_group=False,
                    context=customer_features(rng) | {"channel": "web"},
                    shown=[ShownOffer(str(offer["offer.id"]), offer, 0.2, False, None, "ignored",
                                      0.1)],
                )
            )  # fmt: skip
        await asyncio.gather(
            *(
                store.decisions.record(
                    e, history={"type": "decision", "decision_id": e.decision_id, "at": e.at_ms}
                )
                for e in entries
            )
        )
        results = await asyncio.gather(
            *(
                store.decisions.record_outcome(
                    e.decision_id, e.shown[0].offer_id, "declined", now_ms=int(time.time() * 1000)
                )
                for e in entries
            )
        )
        await asyncio.gather(
            *(
                store.customers.append_history(
                    e.customer_id, {"type": "outcome", "decision_id": e.decision_id}
                )
                for e, r in zip(entries, results, strict=True)
                if r.status == "recorded"
            )
        )


def process_cpu_s() -> float:
    """CPU seconds of this process, all threads (the SQL writes run in a worker thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def postgres_cpu_s() -> float:
    """CPU seconds of every local process named postgres (the server's backends): what the
    inserts cost the database, when it runs on this machine."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"postgres" not in (entry / "cmdline").read_bytes():
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--decisions", type=int, default=10000)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp())
    bundled = None
    url = args.redis_url
    if url is None:
        bundled = start_bundled_redis(tmp / "redis", persist=False)
        url = bundled.url
    schema = None
    db_url = args.database_url or f"sqlite:///{tmp / 'archive.db'}"
    if args.database_url:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(args.database_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in db_url else "?"
        db_url = f"{db_url}{sep}options=-csearch_path%3D{schema}"
    engine = make_engine(db_url)
    migrate(engine)
    client = connect(url)
    keys = Keys(prefix=f"bench{uuid.uuid4().hex[:6]}")
    store = FeatureStore.build(client, keys)
    try:
        await fill(store, args.decisions, random.Random(3))
        archiver = Archiver(store.archive_reader(), SqlArchive(engine))
        cpu0, pg0, t0 = process_cpu_s(), postgres_cpu_s(), time.perf_counter()
        rows = await archiver.drain()
        seconds = time.perf_counter() - t0
        cpu, pg = process_cpu_s() - cpu0, postgres_cpu_s() - pg0
        history, interactions = archiver.archive.archived_count()
        print(f"database: {engine.dialect.name}; {args.decisions} decisions with outcomes")
        print(
            f"archived {rows} entries ({history} history lines, {interactions} interactions)"
            f" in {seconds:.2f} s: {rows / seconds:,.0f} rows/s"
        )
        print(
            f"CPU per row: the archiver's process {cpu * 1e6 / rows:.1f} µs"
            + (
                f", PostgreSQL {pg * 1e6 / rows:.1f} µs"
                if engine.dialect.name == "postgresql"
                else ""
            )
        )
    finally:
        async for key in client.scan_iter(match=f"{keys.prefix}:*"):
            await client.delete(key)
        await client.aclose()
        engine.dispose()
        if schema is not None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        if bundled is not None:
            bundled.stop()


if __name__ == "__main__":
    asyncio.run(main())
