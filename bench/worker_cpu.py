"""CPU per decision of one ``nbo serve`` worker under wrk, at several concurrencies.

``bench/load.py`` measures two workers next to the floor; this isolates one worker, to compare
revisions of the decision path (run it on each, same machine, a few times: the spread is about
5%). It reuses ``bench/load.py``'s data (seeded if absent: 100,000 customers, 100 offers), starts
``nbo serve --workers 1 --no-learner``, warms it for 3 s, then for each ``--connections`` runs
``wrk -t1 -c<n> -d<duration>s -s bench/wrk_decide.lua`` and prints decisions/s and the worker's
CPU µs per decision (user + system, from /proc), and the Redis server's (from ``INFO cpu``; it
includes whatever else uses that Redis meanwhile):

    .venv/bin/python bench/worker_cpu.py [--connections 1 8 32] [--duration 8] [--gc]

With ``--gc`` it runs the worker twice, with Python's collector settings (``NBO_GC_YOUNG=0
NBO_GC_FREEZE=false``) and with nbo's (``app/collector.py``), and adds each run's garbage
collections: how many per generation, their total and longest pause (``bench/gc_probe``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import load  # noqa: E402


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


COLLECTORS = {
    "python": {"NBO_GC_YOUNG": "0", "NBO_GC_FREEZE": "false"},
    "nbo": {},
}
"""``--gc``: the worker with Python's own collector settings, then with nbo's defaults."""


def redis_cpu_s(url: str) -> float:
    """CPU seconds (user + system) the Redis server has used so far: its share of a decision."""
    import redis

    info = redis.Redis.from_url(url).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def gc_pauses(directory: Path, pid: int) -> list[tuple[int, float]]:
    """Every collection of ``pid`` so far (generation, ms), as bench/gc_probe writes them."""
    path = directory / f"gc.{pid}.json"
    if not path.exists():
        return []
    return [(int(g), float(ms)) for g, ms in json.loads(path.read_text())["pauses"]]


def describe_pauses(pauses: list[tuple[int, float]], requests: int) -> str:
    parts = []
    for generation in (0, 1, 2):
        times = [ms for g, ms in pauses if g == generation]
        if times:
            total = f"{sum(times):.0f} ms, max {max(times):.1f}"
            parts.append(f"gen{generation} {len(times)} x, {total}")
        else:
            parts.append(f"gen{generation} none")
    total = sum(ms for _, ms in pauses)
    return f"GC {'; '.join(parts)} ({total * 1e3 / max(requests, 1):.0f} µs/decision)"


async def measure(args: argparse.Namespace, data: argparse.Namespace, key: str,
                  extra_env: dict[str, str], label: str) -> None:  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="nbo-worker-cpu-"))
    server = load.nbo_server(data, tmp, args.redis_url, 1, key, learner=False)
    server.env |= extra_env
    if args.gc:
        server.env |= {"PYTHONPATH": str(ROOT / "bench" / "gc_probe"), "NBO_BENCH_GC_DIR": str(tmp)}
    wrk_args = argparse.Namespace(customers=100_000, connections=8)
    with load.running(server):
        await server.ready()
        assert server.proc is not None
        pid = server.proc.pid
        env = load.wrk_env(server, wrk_args)
        script = str(load.WRK_SCRIPT)
        warm = ["wrk", "-t1", "-c8", "-d3s", "-s", script, server.url]
        subprocess.run(warm, env=env, capture_output=True, check=True)
        tick = os.sysconf("SC_CLK_TCK")
        for connections in args.connections:
            before, redis_before = cpu_ticks(pid), redis_cpu_s(args.redis_url)
            time.sleep(0.6)  # the probe writes every 0.5 s
            seen = len(gc_pauses(tmp, pid))
            command = ["wrk", "-t1", f"-c{connections}", f"-d{args.duration:g}s", "-s", script,
                       server.url]  # fmt: skip
            out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            used = (cpu_ticks(pid) - before) / tick
            redis_used = redis_cpu_s(args.redis_url) - redis_before
            total = re.search(r"(\d+) requests in", out.stdout)
            rate = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
            if total is None or rate is None:
                raise RuntimeError(f"wrk failed:\n{out.stdout}")
            requests = int(total.group(1))
            line = (f"{label}c={connections:<3d} {float(rate.group(1)):8,.0f} decisions/s  "
                    f"{used * 1e6 / requests:6,.0f} CPU µs/decision "
                    f"(Redis {redis_used * 1e6 / requests:4,.0f})")  # fmt: skip
            if args.gc:
                time.sleep(0.6)
                line += "  " + describe_pauses(gc_pauses(tmp, pid)[seen:], requests)
            print(line, flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--gc", action="store_true",
                        help="time the worker's garbage collections, with Python's collector "
                             "settings and with nbo's")  # fmt: skip
    args = parser.parse_args()
    data = argparse.Namespace(
        redis_url=args.redis_url,
        database_url=args.database_url,
        customers=100_000,
        offers=100,
        reuse=True,
        keep=True,
    )
    seeded = await load.seed(data, load.Keys(prefix=load.PREFIX))
    if not args.gc:
        await measure(args, data, seeded["channel_key"], {}, "")
        return
    for name, settings in COLLECTORS.items():
        await measure(args, data, seeded["channel_key"], settings, f"{name:6s} ")


if __name__ == "__main__":
    asyncio.run(main())
