"""nbo under load, next to the floor: a bare FastAPI + Redis + numpy decision on the same machine.

One command prints every figure of issue 8, floor and nbo measured in the same run, interleaved:

    .venv/bin/python bench/load.py            # ~6 minutes; REDIS_URL / DATABASE_URL as below

What it does:

1. Seeds ``--customers`` customers (30 features, consent, 2 events each on average, so the
   real-time aggregates are there) under the key prefix ``nbobench`` in ``--redis-url`` (default
   db 5), and a 100-offer catalogue (eligibility rules, caps, cool-downs) in the PostgreSQL schema
   ``nbo_bench`` of ``--database-url``; then starts both servers with ``--workers`` workers each
   and the same uvicorn settings (:data:`app.cli.SERVER_OPTIONS`): the floor
   (``bench/floor_app.py``) and ``nbo serve`` (which starts its learner process). A short warm-up
   posts outcomes so that nbo serves a trained model, not an empty one.
2. Maximum decisions/s: wrk (closed loop, ``-t1 -c<connections>``), floor and nbo alternately,
   ``--repeats`` times each; CPU time per decision from the servers' /proc counters.
3. Latency at 50% and 80% of each server's own maximum: ``bench/loadgen.py`` in open loop (a
   fixed request rate, latency from the scheduled send time, so queueing counts).
4. nbo only: a py-spy profile under maximum load (``--profile``); learner outcomes/s while
   serving at maximum load with outcomes posted for ``--outcome-share`` of decisions (stream lag
   sampled every 0.5 s); latency around model hot-loads (snapshots published every 3 s under
   open-loop load at 50% of the maximum).
5. Redis round trips and commands per decision, counted by a TCP proxy between a one-worker server
   and Redis (requests sent one at a time; background refreshes subtracted).
6. Redis memory per 100,000 customers (MEMORY USAGE of a sample of keys, by key type).

The machine is shared and noisy: compare the ratios, and the runs of each figure.
Every load command is printed with its figure. ``--keep`` leaves the data for ``--reuse``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import os
import random
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import redis.asyncio as aioredis
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.auth import KeyRing  # noqa: E402
from app.cli import SERVER_OPTIONS  # noqa: E402
from decisioning import SqlCatalogue, make_engine, migrate  # noqa: E402
from decisioning.database import normalise_url  # noqa: E402
from feature_store import CustomerEvent, FeatureStore, Keys  # noqa: E402
from feature_store.streams import GROUP  # noqa: E402
from models import Snapshot  # noqa: E402

PREFIX = "nbobench"
SCHEMA = "nbo_bench"
ADMIN_KEY = "nbo_admin_bench_only_not_a_secret"
PYTHON = sys.executable
CATEGORIES = ["mobile", "broadband", "tv", "device", "data", "roaming", "addon", "insurance"]

# --------------------------------------------------------------------------------------- data


def customer_features(n: int) -> dict[str, Any]:
    """Customer ``n``'s 30 features (deterministic): a telecom profile plus generic columns."""
    rng = random.Random(n)
    features: dict[str, Any] = {
        "segment": rng.choice(["youth", "family", "business", "senior", "value"]),
        "age_band": rng.choice(["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]),
        "region": rng.choice(["north", "south", "east", "west", "capital"]),
        "products_held": rng.sample(CATEGORIES, rng.randint(1, 3)),
        "tenure_months": rng.randint(0, 120),
        "monthly_revenue": round(rng.lognormvariate(3.5, 0.6), 2),
        "churn_risk": round(rng.random(), 3),
        "is_student": rng.random() < 0.1,
        "plan": rng.choice(["s", "m", "l", "xl", "unlimited"]),
        "handset_age_months": rng.randint(0, 48),
        "data_usage_gb": round(rng.lognormvariate(2, 1), 2),
        "contract_months_left": rng.randint(0, 24),
        "payment_method": rng.choice(["card", "direct_debit", "invoice"]),
        "num_lines": rng.randint(1, 5),
        "utc_offset_h": rng.choice([0, 1]),
    }
    for i in range(15):
        features[f"f{i:02d}"] = (
            f"v{rng.randint(0, 7)}" if i % 2 else round(rng.lognormvariate(1, 1), 3)
        )
    return features


def offer_bodies(n_offers: int) -> dict[str, dict[str, Any]]:
    """A catalogue of ``n_offers`` on the web and call-centre channels: most customers are
    eligible for most offers (the funnel scores about all of them), with caps and cool-downs."""
    rng = random.Random(7)
    bodies = {}
    for i in range(n_offers):
        rules: list[dict[str, Any]] = [{"feature": "tenure_months", "op": "gte", "value": i % 4}]
        if i % 3 == 0:
            rules.append({"feature": "churn_risk", "op": "lt", "value": 0.97})
        if i % 4 == 1:
            rules.append(
                {"feature": "age_band", "op": "in",
                 "value": ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]}
            )  # fmt: skip
        if i % 10 == 5:
            rules.append({"feature": "products_held", "op": "not_in", "value": ["insurance"]})
        body: dict[str, Any] = {
            "name": f"Offer {i}",
            "kind": "service" if i % 20 == 0 else "offer",
            "channels": ["web", "call_center"],
            "value": round(rng.uniform(5, 300), 2),
            "attributes": {
                "category": CATEGORIES[i % 8],
                "price_tier": ["low", "mid", "high"][i % 3],
                "term_months": 12 * (i % 3),
            },
            "eligibility": rules,
            "cooldown_after_decline_s": 7 * 86400,
            "outcome_window_s": 86400,
        }
        if i % 2:
            body |= {"max_impressions": 3, "impression_window_s": 7 * 86400}
        bodies[f"o{i:03d}"] = body
    return bodies


def customer_events(n: int, now_ms: int) -> list[CustomerEvent]:
    rng = random.Random(1_000_000 + n)
    events = []
    for j in range(rng.choice([0, 1, 2, 2, 3, 4])):
        kind = rng.choices(["page_view", "purchase", "complaint"], [0.8, 0.17, 0.03])[0]
        props: dict[str, Any] = {"channel": rng.choice(["web", "app", "call_center"])}
        if kind == "purchase":
            props["value"] = round(rng.uniform(5, 200), 2)
        events.append(
            CustomerEvent(
                customer_id=f"C{n:06d}",
                type=kind,
                at_ms=now_ms - rng.randint(0, 29 * 86_400_000),
                id=f"seed-{n}-{j}",
                properties=props,
            )
        )
    return events


def database_url(base: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{SCHEMA}"


async def seed(args: argparse.Namespace, keys: Keys) -> dict[str, Any]:
    """Customers in Redis, the catalogue in SQL, a channel key; skipped with --reuse if there."""
    client = aioredis.Redis.from_url(args.redis_url)
    marker = f"{PREFIX}:bench:seeded"
    try:
        seeded = await client.get(marker)
        admin = create_engine(normalise_url(args.database_url))
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
        admin.dispose()
        engine = make_engine(database_url(args.database_url))
        migrate(engine)
        channel_key = None
        if args.reuse and seeded is not None and int(seeded) == args.customers:
            stored = await client.get(f"{PREFIX}:bench:channel_key") or b""
            channel_key = stored.decode() if isinstance(stored, bytes) else stored
            engine.dispose()
            print(f"reusing {args.customers:,} seeded customers under {PREFIX}:*", flush=True)
            return {"channel_key": channel_key, "seed_s": None}
        await drop_prefix(client)
        t0 = time.perf_counter()
        catalogue = SqlCatalogue(engine)
        for offer_id, body in offer_bodies(args.offers).items():
            catalogue.put(offer_id, body)
        _, channel_key = KeyRing(engine, ADMIN_KEY).create("channel")
        engine.dispose()
        store = FeatureStore.build(client, keys)
        await seed_customers(client, store, args.customers)
        await store.models.bump_catalogue()
        await client.set(f"{PREFIX}:bench:channel_key", channel_key)
        await client.set(marker, args.customers)
        seed_s = time.perf_counter() - t0
        print(f"seeded {args.customers:,} customers and {args.offers} offers in {seed_s:.0f} s",
              flush=True)  # fmt: skip
        return {"channel_key": channel_key, "seed_s": seed_s}
    finally:
        await client.aclose()


async def seed_customers(client: aioredis.Redis, store: FeatureStore, customers: int) -> None:
    """Features, consent and recent events of ``customers`` customers, in batches of 1,000."""
    keys = store.keys
    now_ms = int(time.time() * 1000)
    batch = 1000
    for start in range(0, customers, batch):
        async with client.pipeline(transaction=False) as pipe:
            for n in range(start, min(start + batch, customers)):
                cid = f"C{n:06d}"
                pipe.hset(
                    keys.features(cid),
                    mapping={k: orjson.dumps(v) for k, v in customer_features(n).items()},
                )
                pipe.sadd(keys.customer_index(cid), cid)  # as RedisCustomers.put does
                if n % 5:
                    pipe.hset(keys.consent(cid), mapping={"web": "1", "email": str(n % 2)})
            await pipe.execute()
        events = [e for n in range(start, min(start + batch, customers))
                  for e in customer_events(n, now_ms)]  # fmt: skip
        await store.events.record_many(events, now_ms=now_ms)


async def drop_prefix(client: aioredis.Redis, prefix: str = PREFIX) -> None:
    batch: list[bytes] = []
    async for key in client.scan_iter(match=f"{prefix}:*", count=2000):
        batch.append(key)
        if len(batch) >= 1000:
            await client.delete(*batch)
            batch.clear()
    if batch:
        await client.delete(*batch)


# ------------------------------------------------------------------------------------ servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    key: str | None
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    async def ready(self, timeout_s: float = 90.0) -> None:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        body = {"customer_id": "C000001", "channel": "web", "interaction": "visit"}
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=5.0) as http:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited: see {self.log}")
                with contextlib.suppress(httpx.HTTPError):
                    r = await http.post(f"{self.url}/v1/decisions", json=body, headers=headers)
                    if r.status_code == 200:
                        # every worker must be up: a few more answers in a row
                        oks = [
                            (await http.post(f"{self.url}/v1/decisions", json=body,
                                             headers=headers)).status_code == 200
                            for _ in range(10)
                        ]  # fmt: skip
                        if all(oks):
                            return
                await asyncio.sleep(0.5)
        raise RuntimeError(f"{self.name} not ready after {timeout_s} s: see {self.log}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def processes(self) -> dict[int, str]:
        """pid -> command line of the server and all its descendants."""
        assert self.proc is not None
        children: dict[int, list[int]] = collections.defaultdict(list)
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError):
                    stat = (entry / "stat").read_text()
                    ppid = int(stat.rsplit(")", 1)[1].split()[1])
                    children[ppid].append(int(entry.name))
        out: dict[int, str] = {}
        todo = [self.proc.pid]
        while todo:
            pid = todo.pop()
            with contextlib.suppress(OSError):
                out[pid] = (Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                            .decode(errors="replace"))  # fmt: skip
                todo += children.get(pid, [])
        return out

    def cpu_s(self, *, learner: bool = False) -> float:
        """CPU seconds (user + system) used so far by the serving processes (or the learner)."""
        total = 0
        for pid, cmdline in self.processes().items():
            if ("learner" in cmdline) != learner:
                continue
            with contextlib.suppress(OSError, IndexError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")


def server_env(args: argparse.Namespace, data_dir: Path, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBO_")}
    env |= {
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url(args.database_url),
        "NBO_KEY_PREFIX": PREFIX,
        "NBO_ADMIN_KEY": ADMIN_KEY,
        "NBO_DATA_DIR": str(data_dir),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def floor_server(args: argparse.Namespace, tmp: Path, redis_url: str, workers: int) -> Server:
    port = free_port()
    return Server(
        "floor",
        [PYTHON, str(ROOT / "bench" / "floor_app.py"), "--port", str(port),
         "--workers", str(workers)],
        server_env(args, tmp / f"floor{port}", redis_url), port, None, tmp / f"floor{port}.log",
    )  # fmt: skip


def nbo_server(
    args: argparse.Namespace, tmp: Path, redis_url: str, workers: int, key: str, *, learner: bool
) -> Server:
    port = free_port()
    argv = [str(Path(PYTHON).with_name("nbo")), "serve", "--port", str(port),
            "--workers", str(workers), "--log-level", "warning"]  # fmt: skip
    if not learner:
        argv.append("--no-learner")
    return Server("nbo", argv, server_env(args, tmp / f"nbo{port}", redis_url), port, key,
                  tmp / f"nbo{port}.log")  # fmt: skip


# --------------------------------------------------------------------------------------- load


WRK_SCRIPT = ROOT / "bench" / "wrk_decide.lua"


def wrk_command(server: Server, args: argparse.Namespace, duration: float) -> list[str]:
    return ["wrk", "-t1", f"-c{args.connections}", f"-d{duration:g}s", "--latency",
            "-s", str(WRK_SCRIPT), server.url]  # fmt: skip


def wrk_env(server: Server, args: argparse.Namespace) -> dict[str, str]:
    return os.environ | {"NBO_BENCH_KEY": server.key or "", "NBO_BENCH_CUSTOMERS":
                         str(args.customers)}  # fmt: skip


async def run_wrk(server: Server, args: argparse.Namespace, duration: float) -> dict[str, Any]:
    cpu0, t0 = server.cpu_s(), time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *wrk_command(server, args, duration), env=wrk_env(server, args),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out = (await proc.communicate())[0].decode()
    cpu, wall = server.cpu_s() - cpu0, time.perf_counter() - t0
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if match is None or total is None:
        raise RuntimeError(f"wrk failed:\n{out}")
    requests = int(total.group(1))
    return {
        "rps": float(match.group(1)),
        "requests": requests,
        "non2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
        "cpu_ms_per_request": cpu * 1e3 / max(requests, 1),
        "cpu_cores": cpu / wall,
    }


def loadgen_command(server: Server, args: argparse.Namespace, **opts: Any) -> list[str]:
    argv = [PYTHON, str(ROOT / "bench" / "loadgen.py"), "--url", server.url,
            "--customers", str(args.customers)]  # fmt: skip
    if server.key:
        argv += ["--key", server.key]
    for name, value in opts.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is not False and value is not None:
            argv += [flag, str(value)]
    return argv


async def run_loadgen(server: Server, args: argparse.Namespace, **opts: Any) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        *loadgen_command(server, args, **opts), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"loadgen failed: {err.decode()}")
    result: dict[str, Any] = orjson.loads(out)
    return result


def shown(argv: list[str], key: str | None) -> str:
    """A command line for the report, with the API key elided."""
    text_ = " ".join(shlex.quote(a) for a in argv)
    text_ = text_.replace(str(ROOT) + "/", "")
    return text_.replace(key, "$KEY") if key else text_


# -------------------------------------------------------------------------- learner and lag


async def stream_backlog(client: aioredis.Redis, keys: Keys) -> tuple[int, int]:
    """(outcomes not yet acknowledged by the learner, outcomes acknowledged so far)."""
    try:
        groups = await client.xinfo_groups(keys.outcomes(0))
    except aioredis.ResponseError:
        return 0, 0
    for g in groups:
        name = g["name"].decode() if isinstance(g["name"], bytes) else g["name"]
        if name == GROUP:
            lag = int(g.get("lag") or 0)
            pending = int(g["pending"])
            read = int(g.get("entries-read") or 0)
            return lag + pending, read - pending
    return 0, 0


@dataclass
class LagSampler:
    client: aioredis.Redis
    keys: Keys
    samples: list[tuple[float, int, int]] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            backlog, acked = await stream_backlog(self.client, self.keys)
            self.samples.append((time.perf_counter(), backlog, acked))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)


async def wait_drained(client: aioredis.Redis, keys: Keys, timeout_s: float) -> float | None:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        backlog, _ = await stream_backlog(client, keys)
        if backlog == 0:
            return time.perf_counter() - t0
        await asyncio.sleep(0.2)
    return None


# ------------------------------------------------------------------------ Redis round trips


class CountingProxy:
    """A TCP proxy to Redis that counts, per client connection, round trips and commands.

    A round trip starts whenever the client sends after having received (or first sends): a
    pipeline is one, a Lua script is one, four separate awaits are four.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.round_trips = 0
        self.commands: collections.Counter[str] = collections.Counter()
        self.server: asyncio.AbstractServer | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    def reset(self) -> tuple[int, collections.Counter[str]]:
        counts = (self.round_trips, self.commands)
        self.round_trips, self.commands = 0, collections.Counter()
        return counts

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        state = {"answered": True}
        buffer = bytearray()

        async def client_to_redis() -> None:
            while data := await reader.read(65536):
                if state["answered"]:
                    self.round_trips += 1
                    state["answered"] = False
                buffer.extend(data)
                self._count_commands(buffer)
                up_writer.write(data)
                await up_writer.drain()
            up_writer.close()

        async def redis_to_client() -> None:
            while data := await up_reader.read(65536):
                state["answered"] = True
                writer.write(data)
                await writer.drain()
            writer.close()

        with contextlib.suppress(OSError, ConnectionError):
            await asyncio.gather(client_to_redis(), redis_to_client())

    def _count_commands(self, buffer: bytearray) -> None:
        """Consume the complete RESP commands at the start of ``buffer``, counting their names."""
        while buffer:
            end = buffer.find(b"\r\n")
            if end < 0 or buffer[:1] != b"*":
                if buffer[:1] != b"*":
                    buffer.clear()  # inline command (not sent by redis-py): ignore
                return
            argc, pos, name = int(buffer[1:end]), end + 2, ""
            for i in range(argc):
                end = buffer.find(b"\r\n", pos)
                if end < 0:
                    return
                size = int(buffer[pos + 1 : end])
                if len(buffer) < end + 2 + size + 2:
                    return
                if i == 0:
                    name = buffer[end + 2 : end + 2 + size].decode().upper()
                pos = end + 2 + size + 2
            self.commands[name] += 1
            del buffer[:pos]


async def round_trips(
    server: Server, proxy: CountingProxy, args: argparse.Namespace
) -> dict[str, Any]:
    """Decisions one at a time through the proxy; idle background traffic is subtracted."""
    server.start()
    try:
        await server.ready()
        await asyncio.sleep(1.0)
        proxy.reset()
        idle_s = 3.0
        await asyncio.sleep(idle_s)
        idle_trips, idle_cmds = proxy.reset()
        t0 = time.perf_counter()
        result = await run_loadgen(server, args, mode="closed", connections=1, duration=3,
                                   warmup=0)  # fmt: skip
        busy_s = time.perf_counter() - t0
        trips, cmds = proxy.reset()
    finally:
        server.stop()
    n = result["requests"]
    scale = busy_s / idle_s
    per = {c: (k - idle_cmds.get(c, 0) * scale) / n for c, k in cmds.items()}
    return {
        "decisions": n,
        "round_trips": (trips - idle_trips * scale) / n,
        "background_per_s": idle_trips / idle_s,
        "commands": {c: v for c, v in sorted(per.items()) if v > 0.01},
    }


# ---------------------------------------------------------------------------------- memory


async def memory(client: aioredis.Redis, keys: Keys, customers: int) -> dict[str, Any]:
    """Bytes per 100,000 customers, by key type, from MEMORY USAGE of 2,000 sampled customers."""
    rng = random.Random(3)
    sample = [f"C{rng.randrange(customers):06d}" for _ in range(2000)]
    kinds = ("features", "consent", "aggregates", "event_ids", "contacts", "history")
    out: dict[str, Any] = {}
    for kind in kinds:
        async with client.pipeline(transaction=False) as pipe:
            for cid in sample:
                pipe.memory_usage(getattr(keys, kind)(cid), samples=0)
            sizes = await pipe.execute()
        out[kind] = sum(s or 0 for s in sizes) / len(sample) * 100_000
    out["customer total"] = sum(out[k] for k in kinds)
    decision_keys = []
    async for key in client.scan_iter(match=f"{PREFIX}:v1:{{o:0}}:decision:*", count=1000):
        decision_keys.append(key)
        if len(decision_keys) >= 500:
            break
    if decision_keys:
        async with client.pipeline(transaction=False) as pipe:
            for key in decision_keys:
                pipe.memory_usage(key, samples=0)
            sizes = await pipe.execute()
        out["per logged decision"] = sum(s or 0 for s in sizes) / len(sizes)
    return out


# --------------------------------------------------------------------------------- profile


IDLE = re.compile(
    r"^(Condition\.wait|Event\.wait|Queue\.get|Connection\._recv|select|_wait_for_tstate_lock"
    r"|_worker \(concurrent/futures/thread\.py\)|Connection\.wait \(psycopg)"
)
"""Leaf frames of threads that wait: anyio and to_thread pools, PostgreSQL, the supervisor."""


def summarise_profile(raw: Path, top: int = 22) -> list[str]:
    """py-spy's collapsed stacks as the functions with the most time, inclusive and self.

    Only the uvicorn worker processes count (not the supervisor or the learner), and samples of
    threads parked on a lock or queue are dropped: py-spy in non-blocking mode cannot always
    tell them from running ones. ``Runner.run`` as a leaf is uvloop's C code: socket I/O and
    waiting for it.
    """
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = idle = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit() or "multiprocessing-fork" not in stack:
            continue
        count = int(count_text)
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")
                  if not f.startswith(("process ", "thread ", " spawn_main"))]  # fmt: skip
        frames = [f.replace(str(ROOT) + "/", "").replace(sys.prefix + "/", "")
                  for f in frames]  # fmt: skip
        frames = [re.sub(r"lib/python3\.\d+/(site-packages/)?", "", f) for f in frames]
        if not frames:
            continue
        if IDLE.match(frames[-1]):
            idle += count
            continue
        total += count
        for f in set(frames):
            inclusive[f] += count
        own[frames[-1]] += count
    if not total:
        return ["(no samples)"]
    lines = [
        f"{total} busy samples in the workers ({idle} idle-thread samples dropped); "
        "% of busy samples",
        "inclusive (nbo's own functions):",
    ]
    mine = [(f, c) for f, c in inclusive.most_common()
            if re.search(r"\((app|decisioning|models|feature_store)/", f)]  # fmt: skip
    for f, c in mine[:top]:
        lines.append(f"  {100 * c / total:5.1f}%  {f}")
    lines.append("inclusive (libraries):")
    libs = [(f, c) for f, c in inclusive.most_common()
            if not re.search(r"\((app|decisioning|models|feature_store)/|<string>|multiprocessing|"
                             r"uvicorn/(_subprocess|supervisors|server|_compat)|asyncio/runners",
                             f)]  # fmt: skip
    for f, c in libs[:top]:
        lines.append(f"  {100 * c / total:5.1f}%  {f}")
    lines.append("self (leaf frames):")
    for f, c in own.most_common(top):
        lines.append(f"  {100 * c / total:5.1f}%  {f}")
    return lines


async def profile(server: Server, args: argparse.Namespace, tmp: Path) -> list[str]:
    py_spy = Path(PYTHON).with_name("py-spy")
    if not py_spy.exists():
        return ["py-spy not installed (.venv/bin/pip install py-spy): no profile"]
    raw = tmp / "profile.txt"
    assert server.proc is not None
    duration = max(5, int(args.duration))
    spy = await asyncio.create_subprocess_exec(
        str(py_spy), "record", "--pid", str(server.proc.pid), "--subprocesses", "--rate", "200",
        "--nonblocking", "--format", "raw", "--output", str(raw), "--duration", str(duration),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await asyncio.sleep(0.5)
    await run_wrk(server, args, duration)
    _, err = await spy.communicate()
    if not raw.exists():
        return [f"py-spy failed: {err.decode()[-500:]}"]
    keep = ROOT / "bench" / "out"
    keep.mkdir(exist_ok=True)
    (keep / "profile-nbo.txt").write_bytes(raw.read_bytes())
    return [f"py-spy record --subprocesses --rate 200 --nonblocking for {duration} s during "
            "wrk at maximum load (raw stacks: bench/out/profile-nbo.txt)"] + summarise_profile(
        raw
    )  # fmt: skip


# -------------------------------------------------------------------------------- hot-load


async def hot_loads(
    server: Server, args: argparse.Namespace, client: aioredis.Redis, keys: Keys, rate: float
) -> dict[str, Any]:
    """Open-loop load at ``rate`` while a snapshot is published every 3 s; latency around each.

    The snapshot republished is the learner's newest under a new version (same size and shape as
    a real one); each
    worker finds it within NBO_SNAPSHOT_REFRESH_S, loads it off the event loop and re-encodes the
    catalogue against it. A window is [first answer with the new version - 0.2 s, + 0.8 s].
    """
    latest = int(await client.get(keys.snapshot_latest) or 0)
    data = await client.get(keys.snapshot(latest))
    if not isinstance(data, bytes):  # the client is made without decode_responses
        return {"error": "no snapshot to republish"}
    snapshot = Snapshot.from_bytes(data)
    store = FeatureStore.build(client, keys)
    stop = asyncio.Event()
    published: list[int] = []

    async def publisher() -> None:
        version = latest
        await asyncio.sleep(2.5)
        while not stop.is_set():
            version += 1
            # the version is inside the snapshot too: workers serve what the bytes say
            fresh = dataclasses.replace(snapshot, version=version).to_bytes()
            await store.models.publish_snapshot(version, fresh)
            published.append(version)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 3.0)

    task = asyncio.create_task(publisher())
    try:
        opts = {"mode": "open", "rate": round(rate), "connections": 100,
                "duration": max(args.duration, 15), "timeline": True}  # fmt: skip
        result = await run_loadgen(server, args, **opts)
    finally:
        stop.set()
        await task
    timeline = result.pop("timeline")
    # every answer's (seconds since start, latency ms, model version), to see how the slow ones
    # fall in time: spread (a queue) or together (a stall)
    keep = ROOT / "bench" / "out"
    keep.mkdir(exist_ok=True)
    (keep / "hotload-timeline.json").write_bytes(orjson.dumps(timeline))
    first_seen: dict[int, float] = {}
    for t, _ms, v in timeline:
        if v in published and v not in first_seen:
            first_seen[v] = t
    inside: list[float] = []
    outside: list[float] = []
    for t, ms, _v in timeline:
        near = any(s - 0.2 <= t <= s + 0.8 for s in first_seen.values())
        (inside if near else outside).append(ms)

    def pct(values: list[float], q: float) -> float | None:
        return float(np.percentile(values, q)) if values else None

    return {
        "command": shown(loadgen_command(server, args, **opts), server.key),
        "snapshot_bytes": len(data),
        "hot_loads": len(first_seen),
        "rate": result["decisions_per_s"],
        "in_windows": {"n": len(inside), "p50": pct(inside, 50), "p99": pct(inside, 99),
                       "p99.9": pct(inside, 99.9), "max": max(inside) if inside else None},
        "outside": {"n": len(outside), "p50": pct(outside, 50), "p99": pct(outside, 99),
                    "p99.9": pct(outside, 99.9), "max": max(outside) if outside else None},
    }  # fmt: skip


# ----------------------------------------------------------------------------------- main


def fmt(value: Any, spec: str = ",.0f") -> str:
    if value is None:
        return "-"
    return format(value, spec)


@contextlib.contextmanager
def running(*servers: Server) -> Iterator[None]:
    try:
        for s in servers:
            s.start()
        yield
    finally:
        for s in servers:
            s.stop()


async def main() -> None:  # noqa: C901 - one linear script, in phases
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/5")
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--offers", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load run")
    parser.add_argument("--repeats", type=int, default=3, help="max-throughput runs per server")
    parser.add_argument("--outcome-share", type=float, default=0.25)
    parser.add_argument("--profile", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--only",
        choices=("all", "max", "nbo"),
        default="all",
        help="max: maximum throughput only; nbo: skip the floor",
    )
    parser.add_argument("--reuse", action="store_true", help="reuse seeded data if present")
    parser.add_argument("--keep", action="store_true", help="keep the data for --reuse")
    args = parser.parse_args()  # fmt: skip

    keys = Keys(prefix=PREFIX)
    tmp = Path(tempfile.mkdtemp(prefix="nbo-load-"))
    print(f"# bench/load.py: {args.customers:,} customers x 30 features, {args.offers} offers, "
          f"{args.workers} workers per server, Redis {args.redis_url}, logs in {tmp}",
          flush=True)  # fmt: skip
    seeded = await seed(args, keys)
    key = seeded["channel_key"]
    client = aioredis.Redis.from_url(args.redis_url)
    floor = floor_server(args, tmp, args.redis_url, args.workers)
    nbo = nbo_server(args, tmp, args.redis_url, args.workers, key, learner=True)
    servers = [nbo] if args.only == "nbo" else [floor, nbo]
    report: dict[str, Any] = {"seed_s": seeded["seed_s"]}
    try:
        with running(*servers):
            for s in servers:
                await s.ready()
            # warm-up: train the model a little (outcomes for every decision), as in production
            warm = await run_loadgen(nbo, args, mode="closed", connections=8, duration=8,
                                     warmup=0, outcome_share=1.0)  # fmt: skip
            await wait_drained(client, keys, 60)
            await asyncio.sleep(2 * 0.5 + 0.5)  # workers pick up the newest snapshot
            print(
                f"warm-up: {warm['ok']} decisions, {warm['outcomes']} outcomes learned; "
                f"model v{int(await client.get(keys.snapshot_latest) or 0)}",
                flush=True,
            )
            for s in servers:
                await run_wrk(s, args, 3)  # warm both (JIT-free, but caches and pools)

            # 1. maximum throughput, alternating
            runs: dict[str, list[dict[str, Any]]] = {s.name: [] for s in servers}
            for r in range(args.repeats):
                for s in servers:
                    result = await run_wrk(s, args, args.duration)
                    runs[s.name].append(result)
                    print(f"max run {r + 1}: {s.name:5s} {result['rps']:8,.0f} decisions/s  "
                          f"CPU {result['cpu_ms_per_request']:.3f} ms/decision "
                          f"({result['cpu_cores']:.2f} cores)  non-2xx {result['non2xx']}",
                          flush=True)  # fmt: skip
            report["max"] = {name: statistics.median(r["rps"] for r in rs)
                             for name, rs in runs.items()}  # fmt: skip
            report["runs"] = runs
            report["cpu"] = {name: statistics.median(r["cpu_ms_per_request"] for r in rs)
                             for name, rs in runs.items()}  # fmt: skip
            if len(servers) == 2:
                report["pair_ratios"] = [
                    n["rps"] / f["rps"] for f, n in zip(runs["floor"], runs["nbo"], strict=True)
                ]
            report["wrk"] = {s.name: shown(wrk_command(s, args, args.duration), s.key)
                             for s in servers}  # fmt: skip

            if args.only != "max":
                # 2. latency at 50% and 80% of each one's maximum, open loop
                report["latency"] = {}
                for share in (0.5, 0.8):
                    for s in servers:
                        rate = round(share * report["max"][s.name])
                        opts = {"mode": "open", "rate": rate, "connections": 100,
                                "duration": args.duration}  # fmt: skip
                        # the learner process's CPU too: it archives every decision's history
                        # line to SQL, on the same two cores
                        # and the server's CPU per decision: higher than at the maximum,
                        # where decisions share loop turns, batches and Redis writes
                        lcpu0, scpu0, t0 = s.cpu_s(learner=True), s.cpu_s(), time.perf_counter()
                        result = await run_loadgen(s, args, **opts)
                        wall = time.perf_counter() - t0
                        result["learner_cpu_cores"] = (s.cpu_s(learner=True) - lcpu0) / wall
                        sent = result["requests"] * (1 + 1.0 / args.duration)  # + 1 s warm-up
                        result["cpu_ms_per_request"] = (s.cpu_s() - scpu0) * 1e3 / max(sent, 1)
                        result["command"] = shown(loadgen_command(s, args, **opts), s.key)
                        report["latency"][(s.name, share)] = result
                        print(f"open loop {s.name:5s} at {share:.0%} ({rate}/s): p50 "
                              f"{result['p50_ms']:.2f} p99 {result['p99_ms']:.2f} p99.9 "
                              f"{result['p99.9_ms']:.2f} ms, achieved "
                              f"{result['decisions_per_s']:,.0f}/s, server CPU "
                              f"{result['cpu_ms_per_request']:.3f} ms/decision, learner CPU "
                              f"{result['learner_cpu_cores']:.2f} cores, load generator CPU "
                              f"{result['cpu_cores']:.2f} cores", flush=True)  # fmt: skip

                # 3. profile under maximum load
                if args.profile:
                    report["profile"] = await profile(nbo, args, tmp)

                # 4. learner while serving at maximum load
                sampler = LagSampler(client, keys)
                stop = asyncio.Event()
                sampling = asyncio.create_task(sampler.run(stop))
                lcpu0 = nbo.cpu_s(learner=True)
                opts = {
                    "mode": "closed",
                    "connections": args.connections,
                    "duration": max(args.duration, 15),
                    "outcome_share": args.outcome_share,
                }
                result = await run_loadgen(nbo, args, **opts)
                lcpu = nbo.cpu_s(learner=True) - lcpu0
                stop.set()
                await sampling
                drain = await wait_drained(client, keys, 120)
                samples = sampler.samples
                span = samples[-1][0] - samples[0][0] if len(samples) > 1 else 0.0
                report["learner"] = {
                    "command": shown(loadgen_command(nbo, args, **opts), nbo.key),
                    "decisions_per_s": result["decisions_per_s"],
                    "outcomes_per_s": result["outcomes_per_s"],
                    "outcome_statuses": result["outcome_statuses"],
                    "learned_per_s": (samples[-1][2] - samples[0][2]) / span if span else 0.0,
                    "backlog_max": max(b for _, b, _ in samples),
                    "backlog_end": samples[-1][1],
                    "drain_s": drain,
                    "learner_cpu_cores": lcpu / max(result["seconds"], 1e-9),
                }  # fmt: skip
                lr = report["learner"]
                print(f"learner: {lr['outcomes_per_s']:,.0f} outcomes/s posted, "
                      f"{lr['learned_per_s']:,.0f}/s learned, backlog max {lr['backlog_max']}, "
                      f"drained {fmt(drain, '.1f')} s after", flush=True)  # fmt: skip

                # 5. model hot-loads under open-loop load at 50% of the maximum
                report["hotload"] = await hot_loads(nbo, args, client, keys,
                                                    0.5 * report["max"]["nbo"])  # fmt: skip
                print(f"hot-load: {report['hotload']}", flush=True)

        if args.only != "max":
            # 6. Redis round trips per decision, through a counting proxy, one worker each
            proxy = CountingProxy("127.0.0.1", int(re.findall(r":(\d+)", args.redis_url)[-1]))
            await proxy.start()
            db = args.redis_url.rsplit("/", 1)[-1]
            via = f"redis://127.0.0.1:{proxy.port}/{db}"
            report["round_trips"] = {}
            for s in ([] if args.only == "nbo" else [floor_server(args, tmp, via, 1)]) + [
                nbo_server(args, tmp, via, 1, key, learner=False)
            ]:
                report["round_trips"][s.name] = await round_trips(s, proxy, args)
                print(f"round trips {s.name}: {report['round_trips'][s.name]}", flush=True)
            report["memory"] = await memory(client, keys, args.customers)
    finally:
        if not args.keep:
            await drop_prefix(client)
            admin = create_engine(normalise_url(args.database_url))
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
            admin.dispose()
        await client.aclose()
    print_report(report, args)


def print_report(report: dict[str, Any], args: argparse.Namespace) -> None:
    names = list(report["max"])
    both = len(names) == 2
    print()
    print(
        f"## nbo vs the floor: {args.workers} workers each, uvicorn {SERVER_TEXT}, "
        f"{args.customers:,} customers, {args.offers} offers, {os.cpu_count()} cores"
    )
    head = f"{'':34s}" + "".join(f"{n:>14s}" for n in names) + ("     nbo/floor" if both else "")
    print(head)

    def row(label: str, values: list[Any], spec: str = ",.0f", ratio: bool = True) -> None:
        cells = "".join(f"{fmt(v, spec):>14s}" for v in values)
        extra = ""
        if both and ratio and None not in values and values[0]:
            extra = f"{values[1] / values[0]:>14.2f}"
        print(f"{label:34s}{cells}{extra}")

    row("max decisions/s (median)", [report["max"][n] for n in names])
    for n in names:
        runs = ", ".join(f"{r['rps']:,.0f}" for r in report["runs"][n])
        print(f"{'':36s}{n} runs: {runs}")
    if both:
        ratios = ", ".join(f"{r:.2f}" for r in report["pair_ratios"])
        print(f"{'':36s}nbo/floor per pair: {ratios}")
    row("CPU ms per decision (at max)", [report["cpu"][n] for n in names], ".3f")
    for share in (0.5, 0.8):
        lat = report.get("latency", {})
        if not lat:
            break
        cells = [lat[(n, share)] for n in names]
        row(f"at {share:.0%} of own max: rate/s", [c["decisions_per_s"] for c in cells])
        for q in ("p50", "p99", "p99.9"):
            row(f"  {q} ms", [c[f"{q}_ms"] for c in cells], ".2f")
        row("  server CPU ms per decision", [c.get("cpu_ms_per_request") for c in cells], ".3f")
        row("  load generator CPU (cores)", [c.get("cpu_cores") for c in cells], ".2f")
    rt = report.get("round_trips", {})
    if rt:
        row("Redis round trips per decision", [rt.get(n, {}).get("round_trips") for n in names],
            ".2f", ratio=False)  # fmt: skip
        for n in names:
            if n in rt:
                cmds = ", ".join(f"{c} {v:.2f}" for c, v in rt[n]["commands"].items())
                print(f"{'':36s}{n} commands/decision: {cmds}")
    print()
    print("commands:")
    for n, cmd in report["wrk"].items():
        print(f"  max {n}: {cmd}")
    for (n, share), r in report.get("latency", {}).items():
        print(f"  {share:.0%} {n}: {r['command']}")
    if "learner" in report:
        lr = report["learner"]
        print()
        print(
            "## learner while serving (nbo, closed loop at maximum, outcomes for "
            f"{args.outcome_share:.0%} of decisions)"
        )
        print(f"  {lr['command']}")
        print(
            f"  decisions/s {lr['decisions_per_s']:,.0f}; outcomes posted/s "
            f"{lr['outcomes_per_s']:,.0f} (statuses {lr['outcome_statuses']}); learned/s "
            f"{lr['learned_per_s']:,.0f}; learner CPU {lr['learner_cpu_cores']:.2f} cores"
        )
        print(
            f"  stream backlog (unacknowledged outcomes): max {lr['backlog_max']}, at end "
            f"{lr['backlog_end']}, drained {fmt(lr['drain_s'], '.1f')} s after the load stopped"
        )
    if "hotload" in report and "in_windows" in report["hotload"]:
        h = report["hotload"]
        print()
        print(
            f"## model hot-load (snapshot {h['snapshot_bytes'] / 1e3:,.0f} kB published every "
            f"3 s, {h['hot_loads']} hot-loads, open loop at {h['rate']:,.0f}/s)"
        )
        print(f"  {h['command']}")
        for label, part in (("within 1 s of a hot-load", h["in_windows"]),
                            ("the rest of the run", h["outside"])):  # fmt: skip
            print(
                f"  {label:26s} n {part['n']:6d}  p50 {fmt(part['p50'], '.2f')}  p99 "
                f"{fmt(part['p99'], '.2f')}  p99.9 {fmt(part['p99.9'], '.2f')}  max "
                f"{fmt(part['max'], '.2f')} ms"
            )
    if "memory" in report:
        m = report["memory"]
        print()
        print("## Redis memory (MEMORY USAGE of 2,000 sampled customers, scaled)")
        for k, v in m.items():
            unit = "bytes" if k == "per logged decision" else "MB per 100,000 customers"
            print(f"  {k:22s} {v / (1 if unit == 'bytes' else 1e6):10,.1f} {unit}")
    if "profile" in report:
        print()
        print("## profile of nbo")
        for line in report["profile"]:
            print(f"  {line}")
    if report.get("seed_s"):
        print(f"\n(seeding took {report['seed_s']:.0f} s)")


SERVER_TEXT = " + ".join(f"{k}={getattr(v, '__qualname__', v)}" for k, v in SERVER_OPTIONS.items())

if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
