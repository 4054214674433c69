"""Answers sent in one write (app/http_protocol.py): the transport joins a write with the next one
of the same loop turn, never reorders or loses one, and a streamed answer still leaves chunk by
chunk. Over a real uvicorn server and socket, and over a transport that records what it is given.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import uvicorn

from app.http_protocol import JOIN_LIMIT, CoalescingHttpToolsProtocol, CoalescingTransport
from feature_store.server import free_port


class _Recording(asyncio.Transport):
    """What reaches the socket: each write as it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 7


async def _turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def test_a_write_joins_the_next_one_of_the_same_turn() -> None:
    async def run() -> None:
        raw = _Recording()
        transport = CoalescingTransport(raw, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        assert raw.writes == []
        assert transport.get_write_buffer_size() == 7 + 19
        transport.write(b'{"a": 1}')
        assert raw.writes == [b'HTTP/1.1 200 OK\r\n\r\n{"a": 1}']
        await _turn()
        assert len(raw.writes) == 1  # the scheduled flush finds nothing held

    asyncio.run(run())


def test_a_lone_write_leaves_at_the_end_of_the_turn_in_order() -> None:
    async def run() -> None:
        raw = _Recording()
        transport = CoalescingTransport(raw, asyncio.get_running_loop())
        transport.write(b"one")
        await _turn()
        assert raw.writes == [b"one"]
        transport.write(b"two")
        transport.write(b"three")
        transport.write(b"four")  # held after the join, then flushed
        transport.write(b"")  # nothing to hold
        await _turn()
        assert raw.writes == [b"one", b"twothree", b"four"]

    asyncio.run(run())


def test_a_held_buffer_is_the_data_as_written() -> None:
    async def run() -> None:
        raw = _Recording()
        transport = CoalescingTransport(raw, asyncio.get_running_loop())
        buffer = bytearray(b"headers")
        transport.write(buffer)
        buffer[:] = b"reused!"  # the caller owns its buffer again once write returned
        transport.write(b"+body")
        assert raw.writes == [b"headers+body"]

    asyncio.run(run())


def test_a_large_write_is_not_copied_but_keeps_its_place() -> None:
    async def run() -> None:
        raw = _Recording()
        transport = CoalescingTransport(raw, asyncio.get_running_loop())
        big = b"x" * (JOIN_LIMIT + 1)
        transport.write(b"head")
        transport.write(big)
        assert raw.writes == [b"head", big]

    asyncio.run(run())


def test_closing_sends_what_is_held_and_aborting_drops_it() -> None:
    async def run() -> None:
        raw = _Recording()
        transport = CoalescingTransport(raw, asyncio.get_running_loop())
        transport.write(b"last words")
        transport.close()
        assert raw.writes == [b"last words"] and raw.closed
        await _turn()
        assert raw.writes == [b"last words"]

        raw = _Recording()
        transport = CoalescingTransport(raw, asyncio.get_running_loop())
        transport.write(b"never sent")
        transport.abort()
        await _turn()
        assert raw.writes == [] and raw.aborted

    asyncio.run(run())


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """``/small``: one JSON answer; ``/stream``: three chunks, the second sent only once the
    client has read the first (a held chunk would never be read: the test would time out)."""
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"application/json")]
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"[1,", "more_body": True})
        await asyncio.wait_for(_app.first_read.wait(), timeout=10)  # type: ignore[attr-defined]
        await send({"type": "http.response.body", "body": b"2,", "more_body": True})
        await send({"type": "http.response.body", "body": b"3]"})
        return
    body = b'{"path": "%s"}' % scope["path"].encode()
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def test_a_real_server_answers_keeps_alive_and_streams() -> None:
    async def run() -> None:
        _app.first_read = asyncio.Event()  # type: ignore[attr-defined]
        port = free_port()
        config = uvicorn.Config(
            _app, host="127.0.0.1", port=port, http=CoalescingHttpToolsProtocol, log_level="error"
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        try:
            while not server.started:
                await asyncio.sleep(0.01)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                for n in range(20):  # one keep-alive connection, answer after answer
                    answer = await client.get(f"/small/{n}")
                    assert answer.status_code == 200
                    assert answer.json() == {"path": f"/small/{n}"}
                head = await client.head("/small/x")
                assert head.status_code == 200 and head.content == b""
                async with client.stream("GET", "/stream") as streamed:
                    chunks = []
                    async for chunk in streamed.aiter_raw():
                        chunks.append(chunk)
                        _app.first_read.set()  # type: ignore[attr-defined]
                assert b"".join(chunks) == b"[1,2,3]"
        finally:
            server.should_exit = True
            await serving

    asyncio.run(asyncio.wait_for(run(), timeout=60))
