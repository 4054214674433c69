"""An HTTP/1.1 load generator for decision endpoints, run as its own process by bench/load.py.

Two modes:

- ``closed``: ``--connections`` clients each send the next request as soon as the previous answer
  arrived (maximum throughput, and the learner phase with outcomes).
- ``open``: requests are scheduled at a fixed ``--rate`` whatever the server does, and each
  latency is measured from the time the request *should* have been sent, so a stalled server is
  charged for the requests queued behind it (no coordinated omission, as wrk2 does it). It runs
  on callbacks (:class:`OpenLoop`), not a task per connection: against the same server at
  600/s the task-per-connection loop measured p50 4.2 / p99 26 ms and this one 2.4 / 13.6; at
  1,100/s 36.8 / 118 against 5.9 / 37, the difference being the generator's own queueing.

With ``--outcome-share`` a share of decisions is followed (on the same connection) by an outcome
for the first shown offer, as a channel would report it. Prints one JSON object on stdout.

    python bench/loadgen.py --url http://127.0.0.1:8000 --key KEY --mode open --rate 1000
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import random
import resource
import time
from typing import Any, cast
from urllib.parse import urlsplit

import numpy as np
import orjson

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
    uvloop = None  # type: ignore[assignment]


_CPU_AT_START: list[float] = []


def _cpu_seconds() -> float:
    """This process's CPU seconds (user + system) since the first call."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    now = usage.ru_utime + usage.ru_stime
    if not _CPU_AT_START:
        _CPU_AT_START.append(now)
    return now - _CPU_AT_START[0]


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


class _Paced(asyncio.Protocol):
    """One keep-alive connection of the open loop, driven by callbacks: a request is written
    from the scheduler's timer (or from the previous answer), the answer parsed in
    ``data_received``; no task, no stream and no coroutine per request, so that a request waits
    in the generator for nothing but its due time (see :class:`OpenLoop`). With the generator's
    timer fixed too (:data:`_TICK_S`) it uses 0.11 cores at 1,100 requests/s, where the loop with
    a task per connection reading through ``asyncio.StreamReader`` used 0.26."""

    def __init__(self, engine: OpenLoop) -> None:
        self.engine = engine
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.intended = 0.0
        self.outcome = False  # the request in flight is an outcome
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(self, request: bytes, intended: float) -> None:
        assert self.transport is not None
        self.intended = intended
        self.busy = True
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end]).lower()
            at = head.find(b"content-length:")
            length = 0
            if at >= 0:
                stop = head.find(b"\r\n", at)
                length = int(head[at + 15 : stop if stop >= 0 else None])
            total = end + 4 + length
            if len(buffer) < total:
                return
            status = int(buffer[9:12])
            payload = bytes(buffer[end + 4 : total])
            del buffer[:total]
            self.busy = False
            self.engine.answered(self, status, payload)

    def connection_lost(self, _exc: Exception | None) -> None:
        self.engine.lost(self)


_TICK_S = 0.001


class OpenLoop:
    """Requests at a fixed rate over a pool of keep-alive connections, as wrk2 paces them.

    Request ``k`` is due at ``start + k / rate``; at its time it goes out on an idle connection,
    or waits in a queue for the first connection to come free. Its latency counts from the due
    time either way, so a server that stalls is charged for everything queued behind it."""

    def __init__(self, run: Run, rate: float) -> None:
        self.run = run
        self.rate = rate
        self.idle: collections.deque[_Paced] = collections.deque()
        self.waiting: collections.deque[float] = collections.deque()
        self.backlog_max = 0
        self.sent = 0
        self.start = 0.0
        self.loop = asyncio.get_running_loop()
        self.finished = self.loop.create_future()
        self.conns: list[_Paced] = []
        self.open = 0

    async def connect(self, connections: int) -> None:
        run = self.run
        for _ in range(connections):
            _, conn = await self.loop.create_connection(lambda: _Paced(self), run.host, run.port)
            self.conns.append(conn)
            self.idle.append(conn)
        self.open = connections

    def begin(self, start: float) -> None:
        self.start = start
        self.tick()

    def tick(self) -> None:
        """Send what is due, then sleep until the next one is."""
        now = time.perf_counter()
        if now >= self.run.stop_at:
            self.end_when_drained()
            return
        due = int((now - self.start) * self.rate) + 1
        while self.sent < due:
            self.dispatch(self.start + self.sent / self.rate)
            self.sent += 1
        self.backlog_max = max(self.backlog_max, len(self.waiting))
        # at least a millisecond: uvloop's timers count whole milliseconds, and a shorter wait
        # rounds to none, so the loop spun until the next due time (0.9 cores at 2,000/s). What
        # falls due meanwhile goes out at the next tick, its latency still counted from its due
        # time: at most a millisecond charged to the server, never hidden
        wait = self.start + self.sent / self.rate - time.perf_counter()
        self.loop.call_later(max(_TICK_S, wait), self.tick)

    def dispatch(self, intended: float) -> None:
        if self.idle:
            self.idle.pop().send(self.run.decision_request(), intended)
        else:
            self.waiting.append(intended)

    def answered(self, conn: _Paced, status: int, payload: bytes) -> None:
        run = self.run
        if conn.outcome:
            run.outcome_answered(status)
            conn.outcome = False
        else:
            follow_up = run.decision_answered(conn.intended, status, payload)
            if follow_up is not None:
                conn.outcome = True
                conn.send(run.outcome_request(*follow_up), conn.intended)
                return
        if self.waiting:
            conn.send(run.decision_request(), self.waiting.popleft())
        else:
            self.idle.append(conn)
            if self.run_over():
                self.end_when_drained()

    def lost(self, conn: _Paced) -> None:
        if conn.busy:
            self.run.errors += 1
        self.open -= 1
        if conn in self.idle:
            self.idle.remove(conn)
        if self.open == 0 and not self.finished.done():
            self.finished.set_result(None)

    def run_over(self) -> bool:
        return time.perf_counter() >= self.run.stop_at

    def end_when_drained(self) -> None:
        """After the last due time: done once every connection is idle (or lost)."""
        if len(self.idle) == self.open and not self.finished.done():
            self.finished.set_result(None)

    def close(self) -> None:
        for conn in self.conns:
            if conn.transport is not None:
                conn.transport.close()


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
        auth = f"Authorization: Bearer {args.key}\r\n" if args.key else ""
        self._head: bytes = (
            f"Host: {self.host}:{self.port}\r\nContent-Type: application/json\r\n{auth}".encode()
        )
        self._request_head: bytes = b"POST " + args.path.encode() + b" HTTP/1.1\r\n" + self._head

    def decision_request(self) -> bytes:
        """A whole HTTP/1.1 request for one decision (the open loop's :class:`_Paced`)."""
        body = self.body()
        return (
            self._request_head + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )

    def outcome_request(self, decision_id: str, body: bytes) -> bytes:
        path = f"{self.args.path}/{decision_id}/outcomes".encode()
        return (
            b"POST " + path + b" HTTP/1.1\r\n" + self._head
            + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )  # fmt: skip

    def decision_answered(
        self, intended: float, status: int, payload: bytes
    ) -> tuple[str, bytes] | None:
        """Record a decision's answer; returns the outcome to report for it, if any, as
        ``(decision id, JSON body)``."""
        done = time.perf_counter()
        if intended >= self.measure_from:
            self.latencies.append(done - intended)
            self.statuses[status] = self.statuses.get(status, 0) + 1
        if status != 200 or not self.parse:
            return None
        answer = orjson.loads(payload)
        if self.args.timeline and intended >= self.measure_from:
            self.timeline.append((intended, done - intended, int(answer.get("model_version", -1))))
        offers = answer.get("offers") or []
        if not (offers and self.rng.random() < self.args.outcome_share):
            return None
        roll = self.rng.random()
        outcome = "accepted" if roll < 0.1 else "declined" if roll < 0.4 else "ignored"
        body = orjson.dumps({"offer_id": offers[0]["offer_id"], "outcome": outcome})
        return str(answer["decision_id"]), body

    def outcome_answered(self, status: int) -> None:
        self.outcomes += 1
        self.outcome_statuses[status] = self.outcome_statuses.get(status, 0) + 1

    def body(self) -> bytes:
        customer = f"C{self.rng.randrange(self.args.customers):06d}"
        channel: str = self.args.channel
        return (
            b'{"customer_id":"' + customer.encode()
            + b'","channel":"' + channel.encode() + b'","interaction":"visit"}'
        )  # fmt: skip

    async def one(self, conn: Connection, intended: float) -> None:
        """A decision (and maybe its outcome) on the closed loop's connection."""
        try:
            status, payload = await conn.post(self.args.path, self.body())
        except (OSError, asyncio.IncompleteReadError, ValueError):
            self.errors += 1
            conn.close()
            return
        follow_up = self.decision_answered(intended, status, payload)
        if follow_up is None:
            return
        decision_id, body = follow_up
        try:
            st, _ = await conn.post(f"{self.args.path}/{decision_id}/outcomes", body)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            self.errors += 1
            conn.close()
            return
        self.outcome_answered(st)

    async def closed_client(self, conn: Connection) -> None:
        while time.perf_counter() < self.stop_at:
            await self.one(conn, time.perf_counter())

    async def main(self) -> dict[str, Any]:
        a = self.args
        began = time.perf_counter()
        _cpu_seconds()  # from here
        conns = [Connection(self.host, self.port, a.key) for _ in range(a.connections)]
        paced = OpenLoop(self, a.rate)
        if a.mode == "closed":
            await asyncio.gather(*(c.open() for c in conns))
        else:
            await paced.connect(a.connections)
        start = time.perf_counter()
        self.measure_from = start + a.warmup
        self.stop_at = self.measure_from + a.duration
        backlog_max = 0
        if a.mode == "closed":
            await asyncio.gather(*(self.closed_client(c) for c in conns))
        else:
            paced.begin(start)
            try:
                await asyncio.wait_for(paced.finished, timeout=30.0 + a.warmup + a.duration)
            except TimeoutError:  # answers that never came
                self.errors += sum(c.busy for c in paced.conns) + len(paced.waiting)
            backlog_max = paced.backlog_max
            paced.close()
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
            # the generator's own CPU: on a small machine it shares the cores with the server
            "cpu_cores": _cpu_seconds() / max(time.perf_counter() - began, 1e-9),
        }
        if lat.size:
            for q in (50, 90, 99, 99.9):
                result[f"p{q:g}_ms"] = float(np.percentile(lat, q))
            result["max_ms"] = float(lat.max())
        if a.timeline:
            result["timeline"] = [[round(t - start, 6), round(d * 1e3, 4), v]
                                  for t, d, v in self.timeline]  # fmt: skip
            # time.perf_counter() at t = 0 (CLOCK_MONOTONIC: comparable with other processes')
            result["timeline_start"] = start
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
