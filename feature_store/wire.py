"""A lean Redis connection for the scripts every decision runs, beside redis-py.

A decision makes two Redis calls (its read script and its log script). Through redis-py's
asyncio client each call takes a connection from the pool (a condition, a timeout, a health
check), retries, records observability hooks and times the write and the read: about 85% of
the call's client CPU (bench/decision_cpu.py). :class:`Wire` sends the same ``EVALSHA`` on one
connection of its own, multiplexed: each call writes its command (packed by hiredis, in C) and
waits for a future; replies arrive in order and hiredis parses them, so the *n*-th reply is the
*n*-th waiting call's. Concurrent decisions share the connection, as Redis runs commands one at
a time anyway.

What it does not handle it hands to redis-py, which then does what it always did:

- a connection redis-py would make differently: TLS, a credential provider, RESP3 (then
  :meth:`Wire.for_client` returns None and the stores use redis-py throughout), and Redis
  Cluster;
- ``NOSCRIPT`` (a restarted or flushed server): the call is retried through redis-py's
  ``Script``, which loads the script;
- a call from another event loop than the one the connection was opened on.

Errors are redis-py's exception types (``ConnectionError``, ``TimeoutError``,
``ResponseError``), so :func:`feature_store.errors.map_redis_errors` translates them as ever. A
call that times out closes the connection (every waiting call fails with it); the next call opens
a new one. A cancelled call leaves its reply to be read and dropped: the order stays right.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

import hiredis
import redis.asyncio as aioredis
from redis import exceptions as rx

__all__ = ["Wire"]

Arg = str | bytes | int | float


class _Protocol(asyncio.Protocol):
    """The connection: writes packed commands, resolves one waiting future per reply."""

    def __init__(self) -> None:
        self._reader = hiredis.Reader(replyError=rx.ResponseError)
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._outgoing: list[bytes] = []

    def send(self, command: bytes, loop: asyncio.AbstractEventLoop) -> None:
        """Queue a packed command; what is queued in one turn of the loop goes in one write.

        Decisions resume together (their replies arrive together) and send their next command
        together: one write, one system call, for all of them instead of one each.
        """
        if not self._outgoing:
            loop.call_soon(self._flush)
        self._outgoing.append(command)

    def _flush(self) -> None:
        data = b"".join(self._outgoing)
        self._outgoing.clear()
        if self.transport is not None:  # else lost: connection_lost failed the waiting calls
            self.transport.write(data)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        waiting = self.waiting
        while True:
            try:
                reply = self._reader.gets()
            except hiredis.ProtocolError as exc:  # garbage on the wire: nothing after it is sure
                self.fail(rx.ConnectionError(f"Protocol error: {exc}"))
                return
            if reply is False:
                return
            if not waiting:  # pragma: no cover - a reply nobody asked for: out of step
                self.fail(rx.ConnectionError("a reply nobody asked for"))
                return
            future = waiting.popleft()
            if future.done():  # timed out or cancelled: its reply is dropped
                continue
            if isinstance(reply, rx.ResponseError):
                if str(reply).startswith("NOSCRIPT"):
                    reply = rx.NoScriptError(str(reply))
                future.set_exception(reply)
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.transport = None
        self._fail_waiting(rx.ConnectionError(f"Connection closed by server: {exc or 'EOF'}"))

    def fail(self, exc: Exception) -> None:
        """Close the connection and fail every waiting call with ``exc``."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
            self.transport = None
        self._fail_waiting(exc)

    def _fail_waiting(self, exc: Exception) -> None:
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(exc)


class Wire:
    """``EVALSHA`` on one lean, multiplexed connection per event loop (see the module).

    Parameters
    ----------
    client
        The redis-py client: its URL's address, database and password, and the fallback.
    host, port, path
        Where Redis listens: TCP ``host``/``port``, or a unix socket ``path``.
    db, username, password
        Selected and authenticated when the connection opens.
    timeout_s
        How long a call waits for its reply (redis-py's ``socket_timeout``), and for a connection.
    """

    def __init__(
        self,
        client: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 6379,
        path: str | None = None,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float | None = 1.0,
    ) -> None:
        self.client = client
        self.host = host
        self.port = port
        self.path = path
        self.db = db
        self.username = username
        self.password = password
        self.timeout_s = timeout_s
        self._protocol: _Protocol | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Lock | None = None

    @classmethod
    def for_client(cls, client: Any) -> Wire | None:
        """A wire to the server ``client`` talks to, or None when only redis-py can reach it."""
        if not isinstance(client, aioredis.Redis):
            return None  # Redis Cluster: a script per slot, routed by redis-py
        pool = client.connection_pool
        kwargs = pool.connection_kwargs
        if (
            kwargs.get("credential_provider") is not None
            or kwargs.get("protocol") not in (None, 2, "2")
            or kwargs.get("decode_responses")
        ):
            return None
        path: str | None = None
        host, port = "", 0
        if pool.connection_class is aioredis.UnixDomainSocketConnection:
            path = str(kwargs["path"])
        elif pool.connection_class is aioredis.Connection:
            host, port = str(kwargs.get("host", "localhost")), int(kwargs.get("port", 6379))
        else:
            return None  # TLS and other connection classes: redis-py's handshake
        return cls(
            client,
            host=host,
            port=port,
            path=path,
            db=int(kwargs.get("db") or 0),
            username=kwargs.get("username"),
            password=kwargs.get("password"),
            timeout_s=kwargs.get("socket_timeout"),
        )

    async def evalsha(self, script: Any, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """Run a registered script (redis-py ``Script``) as ``EVALSHA``; its reply."""
        loop = asyncio.get_running_loop()
        if not self.serves(loop):
            return await script(keys=keys, args=args)  # another loop's caller: redis-py
        protocol = await self._connected(loop)
        try:
            return await self._call(
                protocol, loop, ("EVALSHA", script.sha, len(keys), *keys, *args)
            )
        except rx.NoScriptError:
            return await script(keys=keys, args=args)  # loads it; the next call finds it

    def serves(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether :meth:`execute` may be called from ``loop`` (the connection's own loop)."""
        return self._loop is None or self._loop is loop

    async def execute(self, *commands: Sequence[Arg]) -> list[Any]:
        """Several commands in one write (one round trip, and no script for Redis to run):
        their replies, in order. Only from the loop :meth:`serves`."""
        loop = asyncio.get_running_loop()
        if not self.serves(loop):
            raise RuntimeError("Wire.execute from another event loop than its connection's")
        return await self._calls(await self._connected(loop), loop, commands)

    async def close(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()
            protocol.closed = True

    async def _connected(self, loop: asyncio.AbstractEventLoop) -> _Protocol:
        protocol = self._protocol
        if protocol is None or protocol.closed:
            protocol = await self._open(loop)
        return protocol

    async def _call(
        self, protocol: _Protocol, loop: asyncio.AbstractEventLoop, command: Sequence[Arg]
    ) -> Any:
        return (await self._calls(protocol, loop, (command,)))[0]

    async def _calls(
        self,
        protocol: _Protocol,
        loop: asyncio.AbstractEventLoop,
        commands: Sequence[Sequence[Arg]],
    ) -> list[Any]:
        """Send ``commands`` together; their replies, in order (one timer: the last reply)."""
        if protocol.transport is None:
            raise rx.ConnectionError("Connection closed")
        futures = [loop.create_future() for _ in commands]
        packed = b"".join(hiredis.pack_command(tuple(c)) for c in commands)  # type: ignore[arg-type]
        protocol.send(packed, loop)
        protocol.waiting.extend(futures)
        if self.timeout_s is None:
            return [await future for future in futures]
        timer = loop.call_later(self.timeout_s, _expire, protocol, futures[-1])
        try:
            return [await future for future in futures]
        finally:
            timer.cancel()

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Protocol:
        if self._opening is None or self._loop is not loop:
            self._opening = asyncio.Lock()
            self._loop = loop
        async with self._opening:
            if self._protocol is not None and not self._protocol.closed:
                return self._protocol
            protocol: _Protocol | None = None
            try:
                async with asyncio.timeout(self.timeout_s):
                    if self.path is not None:
                        _, protocol = await loop.create_unix_connection(_Protocol, self.path)
                    else:
                        _, protocol = await loop.create_connection(_Protocol, self.host, self.port)
                    if self.password is not None:
                        user = (self.username,) if self.username else ()
                        await self._call(protocol, loop, ("AUTH", *user, self.password))
                    if self.db:
                        await self._call(protocol, loop, ("SELECT", self.db))
            except BaseException as exc:
                if protocol is not None:
                    protocol.fail(rx.ConnectionError("the connection did not open"))
                if isinstance(exc, TimeoutError):  # asyncio's: it did not open in time
                    raise rx.TimeoutError("Timeout connecting to server") from exc
                if isinstance(exc, OSError):
                    raise rx.ConnectionError(f"Error connecting to Redis: {exc}") from exc
                raise
            self._protocol = protocol
            return protocol


def _expire(protocol: _Protocol, future: asyncio.Future[Any]) -> None:
    """A call's reply is late: the connection is not to be trusted; fail it (and its calls)."""
    if not future.done():
        protocol.fail(rx.TimeoutError("Timeout reading from socket"))
