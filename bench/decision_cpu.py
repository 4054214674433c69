"""CPU time per decision, in-process: the funnel alone, the ASGI app, and the floor's ASGI app.

Throughput on a shared 2-core machine is noisy; the CPU one decision costs this process is not
(much). This prints it, in µs of process CPU time (user + system) per decision, for:

- ``decide``: ``Decider.decide`` called directly (features read, eligibility, contact policy,
  scoring, arbitration, decision log): the whole decision without HTTP;
- ``asgi``: ``POST /v1/decisions`` through the FastAPI app (middleware, auth, body parsing,
  the route, the answer), called as an ASGI app with a prebuilt scope: no socket, no uvicorn;
- ``http``: the same ASGI call with a decider that returns a fixed answer: the HTTP layer alone
  (middleware, routing, auth, body, metrics, serialisation);
- ``floor``: the same ASGI call into ``bench/floor_app.py`` (one HGETALL + numpy score of 100
  offers), for the ratio.

The Redis server's own time is not in these figures (it is another process); ``redis µs`` is the
server's command time per decision from ``INFO commandstats`` (the whole server: other clients
of the same Redis count too).

    python bench/decision_cpu.py --redis-url redis://127.0.0.1:6379/7 [--decisions 2000]

Data: ``--customers`` customers as ``bench/load.py`` seeds them (30 features, consent, events)
under the key prefix ``nbocpu``, its 100-offer catalogue in a SQLite file, and a model trained by
the real learner on outcomes of warm-up decisions, so scoring runs with learned own models.
``--profile FILE`` also writes a py-spy-free cProfile of the ASGI path to FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.auth import KeyRing  # noqa: E402
from app.main import create_app  # noqa: E402
from app.settings import Settings  # noqa: E402
from bench.load import (  # noqa: E402
    drop_prefix,
    offer_bodies,
    seed_customers,
)
from decisioning import DecisionRequest, SqlCatalogue, make_engine, migrate  # noqa: E402
from feature_store import FeatureStore, Keys  # noqa: E402

PREFIX = "nbocpu"
ADMIN_KEY = "nbo_admin_cpu_bench_only_not_a_secret"

Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


async def seed(args: argparse.Namespace, database_url: str) -> str:
    """Customers in Redis and the catalogue in SQL; returns a channel key."""
    client = aioredis.Redis.from_url(args.redis_url)
    try:
        await drop_prefix(client, PREFIX)
        engine = make_engine(database_url)
        migrate(engine)
        catalogue = SqlCatalogue(engine)
        for offer_id, body in offer_bodies(args.offers).items():
            catalogue.put(offer_id, body)
        _, channel_key = KeyRing(engine, ADMIN_KEY).create("channel")
        engine.dispose()
        keys = Keys(prefix=PREFIX)
        store = FeatureStore.build(client, keys)
        await seed_customers(client, store, args.customers)
        await store.models.bump_catalogue()
        return channel_key
    finally:
        await client.aclose()


class Asgi:
    """Calls an ASGI app with one prebuilt POST, as uvicorn would, minus the socket."""

    def __init__(self, app: ASGIApp, path: str, headers: list[tuple[bytes, bytes]]) -> None:
        self.app = app
        self.path = path
        self.headers = headers
        self.status = 0
        self.body = b""

    async def post(self, body: bytes) -> int:
        scope: Message = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": self.path,
            "raw_path": self.path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": self.headers + [(b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        chunks: list[bytes] = []

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        self.body = b"".join(chunks)
        return self.status


def cpu_s() -> float:
    return time.process_time()


async def redis_usec(client: aioredis.Redis) -> float:
    stats = await client.info("commandstats")
    return float(sum(v["usec"] for v in stats.values() if isinstance(v, dict)))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--database-url", default=None, help="default: a SQLite file")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--offers", type=int, default=100)
    parser.add_argument("--decisions", type=int, default=2000, help="per run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3000, help="decisions with outcomes")
    parser.add_argument("--only", choices=("all", "decide", "asgi"), default="all")
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the ASGI path")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="nbo-cpu-"))
    database_url = args.database_url or f"sqlite:///{tmp / 'nbo.db'}"
    key = await seed(args, database_url)
    settings = Settings(
        redis_url=args.redis_url,
        database_url=database_url,
        key_prefix=PREFIX,
        admin_key=ADMIN_KEY,
        data_dir=tmp,
        embedded_learner=False,
        seed=1,
    )
    app = create_app(settings)
    rng = random.Random(3)
    client = aioredis.Redis.from_url(args.redis_url)
    try:
        async with app.router.lifespan_context(app):
            runtime = app.state.runtime
            decider = runtime.decider
            # warm-up: decisions with outcomes, learned by the real learner, hot-loaded
            for _ in range(args.warmup):
                cid = f"C{rng.randrange(args.customers):06d}"
                result = await decider.decide(DecisionRequest(cid, "web", "visit"))
                if result.offers:
                    offer = result.offers[0]
                    accepted = rng.random() < min(0.9, 2 * offer.propensity)
                    await decider.record_outcome(
                        result.decision_id, offer.offer_id, "accepted" if accepted else "declined"
                    )
            learner = runtime.new_learner()
            await learner.run(until_idle=True)
            await learner.close()
            await runtime.refresh()
            snapshot = runtime.model.snapshot
            print(
                f"# {args.customers:,} customers, {args.offers} offers, model v{snapshot.version} "
                f"({snapshot.n_learned} outcomes learned, {len(snapshot.own_index)} own models), "
                f"{args.decisions} decisions per run, {args.repeats} runs, pid {os.getpid()}",
                flush=True,
            )

            floor_app: ASGIApp | None = None
            floor_cm: Any = None
            if not args.no_floor and args.only == "all":
                os.environ["REDIS_URL"] = args.redis_url
                os.environ["NBO_KEY_PREFIX"] = PREFIX
                from bench.floor_app import create_app as create_floor

                floor = create_floor()
                floor_cm = floor.router.lifespan_context(floor)
                await floor_cm.__aenter__()
                floor_app = floor

            headers = [
                (b"host", b"127.0.0.1:8000"),
                (b"content-type", b"application/json"),
                (b"authorization", b"Bearer " + key.encode()),
            ]
            nbo_asgi = Asgi(app, "/v1/decisions", headers)
            floor_asgi = Asgi(floor_app, "/v1/decisions", headers[:2]) if floor_app else None

            def bodies(n: int) -> list[bytes]:
                return [
                    b'{"customer_id":"C%06d","channel":"web","interaction":"visit"}'
                    % rng.randrange(args.customers)
                    for _ in range(n)
                ]

            async def run_decide(n: int) -> None:
                for _ in range(n):
                    cid = f"C{rng.randrange(args.customers):06d}"
                    await decider.decide(DecisionRequest(cid, "web", "visit"))

            async def run_asgi(target: Asgi, batch: list[bytes]) -> None:
                for body in batch:
                    if await target.post(body) != 200:
                        raise RuntimeError(f"{target.status}: {target.body[:300]!r}")

            fixed = await decider.decide(DecisionRequest("C000001", "web", "visit"))

            class FixedDecider:
                catalogue = decider.catalogue  # the route labels metrics by catalogue channel

                async def decide(self, _request: DecisionRequest) -> Any:
                    return fixed

                def prepare(self) -> None:  # the runtime's refresh loop calls it
                    pass

            async def run_http(batch: list[bytes]) -> None:
                runtime.decider = FixedDecider()
                try:
                    await run_asgi(nbo_asgi, batch)
                finally:
                    runtime.decider = decider

            # one warm pass of each (caches, pools, first-request encodings)
            await run_decide(200)
            await run_asgi(nbo_asgi, bodies(200))
            if floor_asgi:
                await run_asgi(floor_asgi, bodies(200))

            figures: dict[str, list[tuple[float, float, float]]] = {}

            async def measure(name: str, work: Awaitable[None]) -> None:
                usec0 = await redis_usec(client)
                c0, w0 = cpu_s(), time.perf_counter()
                await work
                c1, w1 = cpu_s(), time.perf_counter()
                usec1 = await redis_usec(client)
                n = args.decisions
                figures.setdefault(name, []).append(
                    ((c1 - c0) * 1e6 / n, (w1 - w0) * 1e6 / n, (usec1 - usec0) / n)
                )

            for _ in range(args.repeats):
                if args.only in ("all", "decide"):
                    await measure("decide", run_decide(args.decisions))
                if args.only in ("all", "asgi"):
                    await measure("asgi", run_asgi(nbo_asgi, bodies(args.decisions)))
                if args.only in ("all", "asgi"):
                    await measure("http", run_http(bodies(args.decisions)))
                if floor_asgi:
                    await measure("floor", run_asgi(floor_asgi, bodies(args.decisions)))

            if args.profile is not None:
                profiler = cProfile.Profile()
                batch = bodies(args.decisions)
                profiler.enable()
                await run_asgi(nbo_asgi, batch)
                profiler.disable()
                profiler.dump_stats(str(args.profile))
                print(f"# cProfile of {args.decisions} ASGI decisions in {args.profile}")

            if floor_cm is not None:
                await floor_cm.__aexit__(None, None, None)
    finally:
        await drop_prefix(client, PREFIX)
        await client.aclose()

    # other work on a shared machine only ever adds CPU time (cache misses, frequency): the
    # least of the runs is the steadiest figure, the median is printed beside it
    print(f"{'path':8s} {'CPU µs/decision: min':>21s} {'median':>7s}  {'runs':24s} "
          f"{'wall µs':>8s} {'redis µs':>9s}")  # fmt: skip
    for name, runs in figures.items():
        least = min(r[0] for r in runs)
        cpu = statistics.median(r[0] for r in runs)
        wall = statistics.median(r[1] for r in runs)
        rus = statistics.median(r[2] for r in runs)
        each = " ".join(f"{r[0]:.0f}" for r in runs)
        print(f"{name:8s} {least:21.0f} {cpu:7.0f}  {each:24s} {wall:8.0f} {rus:9.0f}")
    if "floor" in figures and "asgi" in figures:
        floor_cpu = min(r[0] for r in figures["floor"])
        nbo_cpu = min(r[0] for r in figures["asgi"])
        print(f"floor / asgi CPU per decision (min): {floor_cpu / nbo_cpu:.2f}")


if __name__ == "__main__":
    import uvloop  # the event loop nbo serve runs on (app.cli.SERVER_OPTIONS)

    uvloop.run(main())
