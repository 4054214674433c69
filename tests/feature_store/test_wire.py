"""The decision's lean Redis connection (``feature_store.wire``) on a real Redis: the same
replies as redis-py, replies matched to their calls under concurrency and cancellation, and
redis-py's errors (translated to ``StoreError``) when the server is gone or silent."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, TypeVar

import pytest
import redis.asyncio as aioredis

from feature_store import (
    FeatureStore,
    Keys,
    StoreTimeout,
    StoreUnavailable,
    Wire,
)
from feature_store.errors import map_redis_errors
from tests.services import on_redis

T = TypeVar("T")
ECHO = "return {KEYS[1], ARGV[1], redis.call('HGETALL', KEYS[1])}"


_run = on_redis


def _wire(client: Any) -> Wire:
    wire = Wire.for_client(client)
    assert wire is not None
    return wire


def test_replies_are_redis_pys(redis_url: str) -> None:
    async def body(client: Any, prefix: str) -> None:
        await client.hset(f"{prefix}:h", mapping={"a": "1", "b": "x"})
        script = client.register_script(ECHO)
        wire = _wire(client)
        try:
            for args in ([b"\x00\xff bytes"], ["text é"], [42], [1.5]):
                mine = await wire.evalsha(script, [f"{prefix}:h"], args)
                assert mine == await script(keys=[f"{prefix}:h"], args=args)
        finally:
            await wire.close()

    _run(redis_url, body)


def test_a_customer_reads_and_a_decision_logs_the_same_through_either(redis_url: str) -> None:
    async def body(client: Any, prefix: str) -> None:
        plain = FeatureStore.build(client, Keys(prefix=prefix))
        lean = FeatureStore.build(client, Keys(prefix=prefix), lean=True)
        assert lean.wire is not None and plain.wire is None
        try:
            await plain.customers.put("C1", {"segment": "youth", "n": 3}, {"email": True})
            keys = Keys(prefix=prefix)
            await client.hset(keys.contacts("C1"), mapping={"imp:o1": "[1, 2]", "last:o1": "2"})
            await client.hset(keys.aggregates("C1"), mapping={"T:c:h1": "3"})
            assert await lean.customers.get("C1") == await plain.customers.get("C1")
            record = await lean.customers.get("C1")
            assert record is not None and record.aggregates == {"T:c:h1": "3"}
            assert record.contacts["imp:o1"] == "[1, 2]"
            assert await lean.customers.get("nobody") is None
        finally:
            await lean.wire.close()

    _run(redis_url, body)


def test_an_unloaded_script_is_loaded_by_redis_py(redis_url: str) -> None:
    """NOSCRIPT (a restarted server) goes to redis-py's Script, which loads it."""

    async def body(client: Any, prefix: str) -> None:
        script = client.register_script(f"-- {uuid.uuid4().hex}\nreturn ARGV[1]")
        wire = _wire(client)
        try:
            assert await wire.evalsha(script, [f"{prefix}:k"], ["once"]) == b"once"
            assert await wire.evalsha(script, [f"{prefix}:k"], ["twice"]) == b"twice"
        finally:
            await wire.close()

    _run(redis_url, body)


def test_concurrent_and_cancelled_calls_get_their_own_replies(redis_url: str) -> None:
    async def body(client: Any, prefix: str) -> None:
        script = client.register_script("return ARGV[1]")
        wire = _wire(client)
        try:
            await wire.evalsha(script, [f"{prefix}:k"], ["warm"])
            cancelled = asyncio.create_task(wire.evalsha(script, [f"{prefix}:k"], ["lost"]))
            await asyncio.sleep(0)  # it has written its command
            cancelled.cancel()
            replies = await asyncio.gather(
                *(wire.evalsha(script, [f"{prefix}:k"], [str(n)]) for n in range(200))
            )
            assert replies == [str(n).encode() for n in range(200)]
            assert cancelled.cancelled()
        finally:
            await wire.close()

    _run(redis_url, body)


def test_a_script_error_is_a_redis_error(redis_url: str) -> None:
    async def body(client: Any, prefix: str) -> None:
        script = client.register_script("return redis.call('INCR', KEYS[1])")
        await client.set(f"{prefix}:s", "text")
        wire = _wire(client)
        try:
            with pytest.raises(Exception, match="not an integer"):
                with map_redis_errors():
                    await wire.evalsha(script, [f"{prefix}:s"], [])
            assert await wire.evalsha(script, [f"{prefix}:n"], []) == 1  # still in step
        finally:
            await wire.close()

    _run(redis_url, body)


def test_a_lost_connection_fails_its_calls_and_the_next_one_reconnects(redis_url: str) -> None:
    async def body(client: Any, prefix: str) -> None:
        script = client.register_script("return ARGV[1]")
        wire = _wire(client)
        try:
            assert await wire.evalsha(script, [f"{prefix}:k"], ["a"]) == b"a"
            # the wire's own connection only: others use the test server too
            host, port = wire._protocol.transport.get_extra_info("sockname")[:2]  # type: ignore[union-attr]
            await client.execute_command("CLIENT", "KILL", "ADDR", f"{host}:{port}")
            await asyncio.sleep(0.1)  # the wire reads the close
            assert await wire.evalsha(script, [f"{prefix}:k"], ["b"]) == b"b"
        finally:
            await wire.close()

    _run(redis_url, body)


def test_a_silent_server_times_out(redis_url: str) -> None:
    """A server that accepts and never answers: StoreTimeout after ``timeout_s``, not a hang."""

    async def body(client: Any, prefix: str) -> None:
        server = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        wire = Wire(client, host="127.0.0.1", port=port, timeout_s=0.2)
        script = client.register_script("return 1")
        try:
            with pytest.raises(StoreTimeout):
                with map_redis_errors():
                    await wire.evalsha(script, [f"{prefix}:k"], [])
        finally:
            await wire.close()
            server.close()

    _run(redis_url, body)


def test_a_refused_connection_is_unavailable(redis_url: str) -> None:
    async def body(client: Any, prefix: str) -> None:
        wire = Wire(client, host="127.0.0.1", port=1, timeout_s=0.5)
        with pytest.raises(StoreUnavailable):
            with map_redis_errors():
                await wire.evalsha(client.register_script("return 1"), [f"{prefix}:k"], [])

    _run(redis_url, body)


def test_only_plain_connections_get_a_wire() -> None:
    assert Wire.for_client(aioredis.Redis.from_url("redis://127.0.0.1:6379/3")) is not None
    unix = Wire.for_client(aioredis.Redis.from_url("unix:///tmp/redis.sock?db=2"))
    assert unix is not None and unix.path == "/tmp/redis.sock" and unix.db == 2
    assert Wire.for_client(aioredis.Redis.from_url("rediss://127.0.0.1:6379")) is None
    decoded = aioredis.Redis.from_url("redis://127.0.0.1:6379", decode_responses=True)
    assert Wire.for_client(decoded) is None
    assert Wire.for_client(aioredis.Redis.from_url("redis://127.0.0.1:6379", protocol=3)) is None
    wire = Wire.for_client(aioredis.Redis.from_url("redis://u:secret@127.0.0.1:6380/5"))
    assert wire is not None and (wire.port, wire.db, wire.username, wire.password) == (
        6380,
        5,
        "u",
        "secret",
    )


def test_commands_sent_together_get_their_replies_in_order(redis_url: str) -> None:
    async def body(client: Any, prefix: str) -> None:
        await client.hset(f"{prefix}:h", mapping={"a": "1"})
        await client.set(f"{prefix}:s", "text")
        wire = _wire(client)
        try:
            replies = await wire.execute(
                ("HGETALL", f"{prefix}:h"), ("GET", f"{prefix}:s"), ("HGETALL", f"{prefix}:none")
            )
            assert replies == [[b"a", b"1"], b"text", []]
            with pytest.raises(aioredis.ResponseError):  # WRONGTYPE: redis-py's error
                await wire.execute(("GET", f"{prefix}:s"), ("HGETALL", f"{prefix}:s"))
            assert await wire.execute(("GET", f"{prefix}:s")) == [b"text"]  # still in step
        finally:
            await wire.close()

    _run(redis_url, body)


def test_calls_made_in_one_loop_turn_share_one_write(redis_url: str) -> None:
    async def body(client: Any, prefix: str) -> None:
        script = client.register_script("return ARGV[1]")
        wire = _wire(client)
        try:
            await wire.evalsha(script, [f"{prefix}:k"], ["open"])  # connected, script loaded
            protocol = wire._protocol
            assert protocol is not None and protocol.transport is not None
            writes: list[int] = []
            write = protocol.transport.write

            def counting(data: Any) -> None:
                writes.append(len(data))
                write(data)

            protocol.transport.write = counting  # type: ignore[method-assign]
            replies = await asyncio.gather(
                *(wire.evalsha(script, [f"{prefix}:k"], [str(n)]) for n in range(50)),
                wire.execute(("ECHO", "last")),
            )
            assert replies == [str(n).encode() for n in range(50)] + [[b"last"]]
            assert len(writes) == 1
        finally:
            await wire.close()

    _run(redis_url, body)
