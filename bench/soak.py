"""Soak: a long run at half the maximum decision rate with outcomes flowing; memory over time,
and counts that must reconcile exactly at the end (nothing lost, nothing counted twice).

It starts a real ``nbo serve --demo`` (one worker, embedded learner, uvloop + httptools, SQLite)
on its own bundled Redis (or ``--redis-url`` with a fresh key prefix), then:

1. probes the maximum decision rate for ``--probe-s`` seconds (closed loop, ``--in-flight``
   requests in flight, decisions only);
2. runs open loop at half that rate (or ``--rate``) for ``--minutes``: every decision on the
   web, app or call-centre channel, and for each offer shown an outcome drawn from the demo's
   hidden truth (accepted, declined or ignored), posted at once;
3. every ``--sample-s`` prints: decisions and outcomes so far, the achieved rate, p50 and p99
   decision latency in the window, the service's RSS, Redis ``used_memory``, and learned;
4. stops the load, waits for the learner to catch up and reconciles: decisions answered (client)
   = decisions counted by the service (``/metrics``); outcomes posted (202 recorded) = outcomes
   recorded (``/v1/metrics/learning`` responses per offer) = outcomes learned; no errors.

    python bench/soak.py --minutes 10            # the full soak
    python bench/soak.py --minutes 0.5 --probe-s 5 --sample-s 5   # a quick check

Memory: the service's RSS should stay flat. Redis grows by design while decisions are made: each
decision is logged for NBO_DECISION_LOG_TTL_S (2 days: outcomes are joined with it) and each
customer keeps up to 500 history entries. So the summary gives, for the service's RSS and for
Redis, the bytes grown per decision in each quarter of the run: for Redis about the same in every
quarter; for the service falling towards zero (allocator arenas and bounded caches fill up early;
a leak would cost the same in the last quarter as in the first).

The load generator runs on the same machine and shares its cores with the service and Redis, so
"maximum rate" is the maximum of this whole machine, client included. Exit status 1 when the
counts do not reconcile or any request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis
from loadgen import Connection

from app.demo import demo_acceptance_probability, demo_customers, demo_offers
from feature_store.server import free_port, start_bundled_redis

CHANNELS = (("web", "visit"), ("app", "visit"), ("call_center", "inbound_call"))
DEMO_CUSTOMERS = 1000  # what nbo serve --demo seeds


@dataclass
class Counts:
    decisions: int = 0
    degraded: int = 0
    outcomes: int = 0
    duplicates: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    behind: int = 0
    """Decisions that could not start on time (all in flight slots busy)."""

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants (uvicorn workers, a learner process)."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(c) for c in children)
        except (OSError, AttributeError):
            continue
    return total / 1024


def growth_per_decision(
    series: list[tuple[float, float]], decisions: list[int], parts: int
) -> list[float]:
    """Bytes grown per decision made in each of ``parts`` equal stretches of the run.

    A leak costs the same per decision all run long; a cache or an allocator filling up costs
    less and less: the last stretch is what says whether memory has levelled off.
    """
    if len(series) <= parts:
        return []
    bounds = [round(i * (len(series) - 1) / parts) for i in range(parts + 1)]
    growth = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        made = decisions[b] - decisions[a]
        growth.append((series[b][1] - series[a][1]) * 2**20 / made if made else 0.0)
    return growth


def service_env(
    redis_url: str, database_url: str | None, data: Path, prefix: str, admin: str
) -> dict[str, str]:
    return os.environ | {
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url or f"sqlite:///{data / 'nbo.db'}",
        "NBO_DATA_DIR": str(data),
        "NBO_ADMIN_KEY": admin,
        "NBO_KEY_PREFIX": prefix,
    }


def start_server(env: dict[str, str], *, learner: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--demo"]
    cmd += ["--log-level", "warning"] + ([] if learner else ["--no-learner"])
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process, f"http://127.0.0.1:{port}"
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError("nbo serve did not start")


def start_learner(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``nbo learner`` in its own process, so its memory is measured apart from the API's."""
    cmd = [sys.executable, "-m", "app.cli", "learner", "--consumer", "soak-learner"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)


class Pool:
    """Keep-alive connections for the load, one per request in flight.

    The load shares the machine's two cores with the service, so the client must be cheap:
    httpx spends about 1 ms of CPU per request here (its pool checks every connection's socket on
    each request), loadgen's bare HTTP/1.1 connection a fraction of that.
    """

    def __init__(self, base_url: str, admin: str, size: int) -> None:
        url = httpx.URL(base_url)
        self._idle: asyncio.Queue[Connection] = asyncio.Queue()
        for _ in range(size):
            self._idle.put_nowait(Connection(url.host, url.port or 80, admin))

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        """Status and parsed JSON answer; a broken connection is closed and raises OSError."""
        conn = await self._idle.get()
        try:
            status, payload = await conn.post(path, orjson.dumps(body))
        except (OSError, asyncio.IncompleteReadError) as exc:
            conn.close()
            raise OSError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            self._idle.put_nowait(conn)
        return status, orjson.loads(payload) if payload else None

    def close(self) -> None:
        while not self._idle.empty():
            self._idle.get_nowait().close()


class Load:
    """Decisions with their outcomes, from the demo's customers and hidden truth."""

    def __init__(self, client: Pool, seed: int, *, outcomes: bool = True) -> None:
        self.client = client
        self.outcomes = outcomes
        self.rng = random.Random(seed)
        self.customers = demo_customers(DEMO_CUSTOMERS)
        self.offers = {o["offer_id"]: o for o in demo_offers()}
        self.counts = Counts()

    async def decide_only(self) -> None:
        customer = self.rng.choice(self.customers)
        channel, interaction = self.rng.choice(CHANNELS)
        status, _ = await self.client.post(
            "/v1/decisions",
            {"customer_id": customer["customer_id"], "channel": channel,
             "interaction": interaction},
        )  # fmt: skip
        if status != 200:
            self.counts.error(f"decision {status}")

    async def one(self) -> None:
        customer = self.rng.choice(self.customers)
        channel, interaction = self.rng.choice(CHANNELS)
        started = time.perf_counter()
        try:
            status, answer = await self.client.post(
                "/v1/decisions",
                {"customer_id": customer["customer_id"], "channel": channel,
                 "interaction": interaction},
            )  # fmt: skip
        except OSError as exc:
            self.counts.error(f"decision {exc}")
            return
        self.counts.latencies.append(time.perf_counter() - started)
        if status != 200:
            self.counts.error(f"decision {status}")
            return
        self.counts.decisions += 1
        if answer.get("degraded"):
            self.counts.degraded += 1
            return  # unlogged: no outcome can be joined to it
        if not self.outcomes:
            return
        for shown in answer["offers"]:
            p = demo_acceptance_probability(
                customer["features"], self.offers[shown["offer_id"]], channel
            )
            outcome = (
                "accepted" if self.rng.random() < p else self.rng.choice(["declined", "ignored"])
            )
            try:
                status, posted = await self.client.post(
                    f"/v1/decisions/{answer['decision_id']}/outcomes",
                    {"offer_id": shown["offer_id"], "outcome": outcome},
                )
            except OSError as exc:
                self.counts.error(f"outcome {exc}")
                continue
            if status != 202:
                self.counts.error(f"outcome {status}")
            elif posted["status"] == "recorded":
                self.counts.outcomes += 1
            else:
                self.counts.duplicates += 1


async def probe(load: Load, seconds: float, in_flight: int) -> float:
    """Decisions per second with ``in_flight`` requests always in flight."""
    stop = time.monotonic() + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < stop:
            await load.decide_only()
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return done / (time.monotonic() - started)


def learning(base_url: str, admin: str) -> dict[str, Any]:
    response = httpx.get(
        f"{base_url}/v1/metrics/learning", headers={"Authorization": f"Bearer {admin}"}
    )
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def served_decisions(base_url: str) -> int:
    text = httpx.get(f"{base_url}/metrics").text
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("nbo_decisions_total{")
        )
    )


async def soak(
    args: argparse.Namespace, base_url: str, admin: str, pids: dict[str, int], r: Any
) -> bool:
    client = Pool(base_url, admin, args.in_flight)
    try:
        load = Load(client, args.seed, outcomes=args.outcomes)
        if args.rate:
            rate = args.rate
            print(f"rate: {rate:.0f} decisions/s (given)")
        else:
            peak = await probe(load, args.probe_s, args.in_flight)
            rate = peak / 2
            print(f"maximum decision rate: {peak:.0f}/s ({args.in_flight} in flight, "
                  f"{args.probe_s:g} s); soaking at half: {rate:.0f}/s")  # fmt: skip
        baseline_decisions = served_decisions(base_url)
        print(
            f"{'t (s)':>6} {'decisions':>10} {'outcomes':>9} {'rate/s':>7} {'p50 ms':>7} "
            f"{'p99 ms':>7} {'RSS MB':>7} {'redis MB':>9} {'learned':>8} {'errors':>6}"
            + "".join(f" {name + ' MB':>12}" for name in pids if len(pids) > 1)
        )
        slots = asyncio.Semaphore(args.in_flight)
        tasks: set[asyncio.Task[None]] = set()

        async def run_one() -> None:
            try:
                await load.one()
            finally:
                slots.release()

        started = time.monotonic()
        end = started + args.minutes * 60
        next_sample = started + args.sample_s
        last_decisions, last_time = 0, started
        rss_series: list[tuple[float, float]] = []
        parts_series: dict[str, list[tuple[float, float]]] = {name: [] for name in pids}
        redis_series: list[tuple[float, float]] = []
        decisions_series: list[int] = []
        n = 0
        late = -1
        while True:
            now = time.monotonic()
            if now >= end:
                break
            due = started + n / rate
            if due > now:
                await asyncio.sleep(min(due - now, next_sample - now, end - now))
            elif slots.locked():
                if late != n:
                    late = n
                    load.counts.behind += 1
                await asyncio.sleep(0.001)
                continue
            else:
                await slots.acquire()
                task = asyncio.create_task(run_one())
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                n += 1
            now = time.monotonic()
            if now >= next_sample:
                c = load.counts
                window = c.latencies
                c.latencies = []
                p50 = statistics.median(window) * 1000 if window else float("nan")
                p99 = (
                    statistics.quantiles(window, n=100)[98] * 1000
                    if len(window) >= 100
                    else float("nan")
                )
                parts = {name: rss_mb(pid) for name, pid in pids.items()}
                rss = sum(parts.values())
                used = int(r.info("memory")["used_memory"]) / 2**20
                t = now - started
                rss_series.append((t, rss))
                for name, value in parts.items():
                    parts_series[name].append((t, value))
                redis_series.append((t, used))
                decisions_series.append(c.decisions)
                learned = learning(base_url, admin)["outcomes_learned"]
                print(
                    f"{t:6.0f} {c.decisions:10d} {c.outcomes:9d} "
                    f"{(c.decisions - last_decisions) / (now - last_time):7.0f} {p50:7.2f} "
                    f"{p99:7.2f} {rss:7.1f} {used:9.1f} {learned:8d} {sum(c.errors.values()):6d}"
                    + "".join(f" {v:12.1f}" for v in parts.values() if len(parts) > 1),
                    flush=True,
                )
                last_decisions, last_time = c.decisions, now
                next_sample += args.sample_s
        if tasks:
            await asyncio.gather(*tasks)
        elapsed = time.monotonic() - started
    finally:
        client.close()

    c = load.counts
    print(f"\nload stopped after {elapsed:.0f} s: {c.decisions} decisions "
          f"({c.decisions / elapsed:.0f}/s), {c.outcomes} outcomes posted")  # fmt: skip
    deadline = time.monotonic() + 120
    metrics = learning(base_url, admin)
    recorded = 0
    while time.monotonic() < deadline:
        metrics = learning(base_url, admin)
        recorded = sum(o["accepted"] + o["declined"] + o["ignored"] for o in metrics["offers"])
        if metrics["outcomes_learned"] >= recorded:
            break
        await asyncio.sleep(0.5)
    served = served_decisions(base_url) - baseline_decisions
    learned = metrics["outcomes_learned"]
    print("\nreconciliation")
    print(f"  decisions answered (client)      {c.decisions}")
    print(f"  decisions counted (service)      {served}")
    print(f"  degraded decisions               {c.degraded}")
    print(f"  outcomes posted (202 recorded)   {c.outcomes}")
    print(f"  outcomes recorded (service)      {recorded}")
    print(f"  outcomes learned (model)         {learned}")
    print(f"  duplicates / errors              {c.duplicates} / {c.errors or 0}")
    print(f"  late starts (all slots busy)     {c.behind}")
    for name, series in (("service RSS", rss_series), ("Redis used_memory", redis_series)):
        if len(series) >= 2:
            first, last = series[0][1], series[-1][1]
            half = series[len(series) // 2][1]
            print(
                f"  {name:<18} first {first:.1f} MB, middle {half:.1f} MB, last {last:.1f} MB "
                f"(second half {last - half:+.1f} MB)"
            )
    separate = [(f"{name} RSS", series) for name, series in parts_series.items() if len(pids) > 1]
    for name, series in [("service RSS", rss_series), *separate, ("Redis", redis_series)]:
        growth = growth_per_decision(series, decisions_series, parts=4)
        if growth:
            quarters = ", ".join(f"{b:+.0f}" for b in growth)
            print(f"  {name + ' growth by quarter':<32} {quarters} bytes per decision")
    ok = (
        c.decisions == served
        and c.outcomes == recorded == learned
        and not c.errors
        and c.degraded == 0
    )
    print("\nRECONCILED: nothing lost, nothing counted twice" if ok else "\nNOT RECONCILED")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--probe-s", type=float, default=20.0)
    parser.add_argument("--sample-s", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=None, help="decisions/s (default: half max)")
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument(
        "--outcomes",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="post an outcome for every offer shown (--no-outcomes: decisions only, to tell "
        "the decision path's memory from the learner's)",
    )
    parser.add_argument(
        "--separate-learner",
        action="store_true",
        help="nbo serve --no-learner and one nbo learner process, each one's RSS shown apart",
    )
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--database-url", default=None, help="SQL database (default: SQLite in a temporary folder)"
    )
    args = parser.parse_args()
    bundled = None
    redis_url = args.redis_url
    with tempfile.TemporaryDirectory() as folder:
        if redis_url is None:
            bundled = start_bundled_redis(Path(folder) / "redis")  # with its AOF, as deployed
            redis_url = bundled.url
        prefix = f"soak{uuid.uuid4().hex[:6]}"
        admin = f"soak-{uuid.uuid4().hex}"
        r = redis.Redis.from_url(redis_url)
        env = service_env(redis_url, args.database_url, Path(folder), prefix, admin)
        process, base_url = start_server(env, learner=not args.separate_learner)
        pids = {"serve": process.pid}
        learner = start_learner(env) if args.separate_learner else None
        if learner is not None:
            pids["learner"] = learner.pid
        where = "bundled" if bundled else "shared: used_memory includes other data"
        print(f"nbo serve pid {process.pid} on {base_url}; Redis {redis_url} ({where})")
        try:
            ok = asyncio.run(soak(args, base_url, admin, pids, r))
        finally:
            for running in (process, learner):
                if running is not None:
                    running.terminate()
                    running.wait(timeout=60)
            if bundled is None:
                for key in r.scan_iter(match=f"{prefix}:*", count=1000):
                    r.delete(key)
            r.close()
            if bundled is not None:
                bundled.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
