"""An HTTP/1.1 load generator for decision endpoints, run as its own process by bench/load.py.

Two modes:

- ``closed``: ``--connections`` clients each send the next request as soon as the previous answer
  arrived (maximum throughput, and the learner phase with outcomes).
- ``open``: requests are scheduled at a fixed ``--rate`` whatever the server does, and each
  latency is measured from the time the request *should* have been sent, so a stalled server is
  charged for the requests queued behind it (no coordinated omission, as wrk2 does it).

With ``--outcome-share`` a share of decisions is followed (on the same connection) by an outcome
for the first shown offer, as a channel would report it. Prints one JSON object on stdout.

    python bench/loadgen.py --url http://127.0.0.1:8000 --key KEY --mode open --rate 1000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import orjson

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
    uvloop = None  # type: ignore[assignment]


class Connection:
    """One keep-alive HTTP/1.1 connection; enough of the protocol for JSON APIs."""

    def __init__(self, host: str, port: int, key: str | None) -> None:
        self.host, self.port = host, port
        auth = f"Authorization: Bearer {key}\r\n" if key else ""
        self._head = f"Host: {host}:{port}\r\nContent-Type: application/json\r\n{auth}".encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self._writer is None:
            await self.open()
        assert self._reader is not None and self._writer is not None
        self._writer.write(
            b"POST " + path.encode() + b" HTTP/1.1\r\n" + self._head
            + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )  # fmt: skip
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        payload = await self._reader.readexactly(length) if length else b""
        return status, payload

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        url = urlsplit(args.url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.rng = random.Random(args.seed)
        self.latencies: list[float] = []
        self.timeline: list[tuple[float, float, int]] = []
        self.statuses: dict[int, int] = {}
        self.outcomes = 0
        self.outcome_statuses: dict[int, int] = {}
        self.errors = 0
        self.measure_from = 0.0
        self.stop_at = 0.0
        self.parse = args.outcome_share > 0 or args.timeline

    def body(self) -> bytes:
        customer = f"C{self.rng.randrange(self.args.customers):06d}"
        return (
            b'{"customer_id":"' + customer.encode()
            + b'","channel":"' + self.args.channel.encode() + b'","interaction":"visit"}'
        )  # fmt: skip

    async def one(self, conn: Connection, intended: float) -> None:
        """A decision (and maybe its outcome); latency counts from ``intended``."""
        try:
            status, payload = await conn.post(self.args.path, self.body())
        except (OSError, asyncio.IncompleteReadError, ValueError):
            self.errors += 1
            conn.close()
            return
        done = time.perf_counter()
        if intended >= self.measure_from:
            self.latencies.append(done - intended)
            self.statuses[status] = self.statuses.get(status, 0) + 1
        if status != 200 or not self.parse:
            return
        answer = orjson.loads(payload)
        if self.args.timeline and intended >= self.measure_from:
            self.timeline.append((intended, done - intended, int(answer.get("model_version", -1))))
        offers = answer.get("offers") or []
        if offers and self.rng.random() < self.args.outcome_share:
            roll = self.rng.random()
            outcome = "accepted" if roll < 0.1 else "declined" if roll < 0.4 else "ignored"
            body = orjson.dumps({"offer_id": offers[0]["offer_id"], "outcome": outcome})
            try:
                st, _ = await conn.post(f"{self.args.path}/{answer['decision_id']}/outcomes", body)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                self.errors += 1
                conn.close()
                return
            self.outcomes += 1
            self.outcome_statuses[st] = self.outcome_statuses.get(st, 0) + 1

    async def closed_client(self, conn: Connection) -> None:
        while time.perf_counter() < self.stop_at:
            await self.one(conn, time.perf_counter())

    async def open_client(self, conn: Connection, queue: asyncio.Queue[float]) -> None:
        while True:
            intended = await queue.get()
            if intended < 0:
                return
            await self.one(conn, intended)

    async def main(self) -> dict[str, Any]:
        a = self.args
        conns = [Connection(self.host, self.port, a.key) for _ in range(a.connections)]
        await asyncio.gather(*(c.open() for c in conns))
        start = time.perf_counter()
        self.measure_from = start + a.warmup
        self.stop_at = self.measure_from + a.duration
        backlog_max = 0
        if a.mode == "closed":
            await asyncio.gather(*(self.closed_client(c) for c in conns))
        else:
            queue: asyncio.Queue[float] = asyncio.Queue()
            clients = [asyncio.create_task(self.open_client(c, queue)) for c in conns]
            sent = 0
            while True:
                now = time.perf_counter()
                if now >= self.stop_at:
                    break
                # request k is due at start + k / rate: send it once that time has come
                due = int((now - start) * a.rate) + 1
                while sent < due:
                    queue.put_nowait(start + sent / a.rate)
                    sent += 1
                backlog_max = max(backlog_max, queue.qsize())
                await asyncio.sleep(max(0.0, start + sent / a.rate - time.perf_counter()))
            for _ in clients:
                queue.put_nowait(-1.0)
            _, late = await asyncio.wait(clients, timeout=10.0)
            for task in late:
                task.cancel()
        elapsed = time.perf_counter() - self.measure_from
        for conn in conns:
            conn.close()
        lat = np.asarray(self.latencies) * 1e3
        ok = self.statuses.get(200, 0)
        result: dict[str, Any] = {
            "mode": a.mode,
            "rate_target": a.rate if a.mode == "open" else None,
            "connections": a.connections,
            "seconds": round(elapsed, 3),
            "requests": int(lat.size),
            "ok": ok,
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "errors": self.errors,
            "decisions_per_s": ok / elapsed if elapsed > 0 else 0.0,
            "outcomes": self.outcomes,
            "outcome_statuses": {str(k): v for k, v in self.outcome_statuses.items()},
            "outcomes_per_s": self.outcomes / elapsed if elapsed > 0 else 0.0,
            "backlog_max": backlog_max,
        }
        if lat.size:
            for q in (50, 90, 99, 99.9):
                result[f"p{q:g}_ms"] = float(np.percentile(lat, q))
            result["max_ms"] = float(lat.max())
        if a.timeline:
            result["timeline"] = [[round(t - start, 6), round(d * 1e3, 4), v]
                                  for t, d, v in self.timeline]  # fmt: skip
        return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--path", default="/v1/decisions")
    p.add_argument("--key", default=None, help="API key (Bearer)")
    p.add_argument("--channel", default="web")
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--mode", choices=("closed", "open"), default="closed")
    p.add_argument("--rate", type=float, default=1000.0, help="requests/s (open mode)")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=1.0, help="seconds not measured")
    p.add_argument("--outcome-share", type=float, default=0.0)
    p.add_argument("--timeline", action="store_true", help="per-request (t, ms, model_version)")
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args(argv)


def main() -> None:
    args = parse_args()
    run = Run(args)
    result = uvloop.run(run.main()) if uvloop is not None else asyncio.run(run.main())
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
