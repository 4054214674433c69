"""uvicorn's httptools protocol, with each answer's headers and body leaving in one send().

uvicorn writes an answer's status line and headers to the transport at ``http.response.start``
and its body at ``http.response.body``, and uvloop sends each write at once: every decision's
answer took two ``write`` calls on the socket and two TCP segments (strace on a worker: 126 bytes
of headers, then about 600 of body), and the client two reads. Sent as one, at a fixed 900
decisions/s the p99 was lower in four alternated pairs of four and the CPU per decision about 8%
lower; at the maximum rate no difference showed (``docs/scaling.md``, sixth session).

:class:`CoalescingHttpToolsProtocol` gives uvicorn's protocol a transport that holds a write until
the next one and sends both joined, or sends it alone at the end of the loop turn if no other write
came: the headers wait for the body, which the app sends in the same turn, and a streamed answer
still leaves chunk by chunk. aiohttp does the same for small answers (aio-libs/aiohttp#10991).
Nothing is reordered: a held write always leaves before any later one, and closing the transport
sends it first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["CoalescingHttpToolsProtocol", "CoalescingTransport"]

JOIN_LIMIT = 64 * 1024
"""A second write larger than this is sent after the held one, not copied into one buffer."""

_Data = bytes | bytearray | memoryview


class CoalescingTransport(asyncio.Transport):
    """A transport that sends a write together with the next one made in the same loop turn."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held: _Data | None = None

    def write(self, data: _Data) -> None:
        held = self._held
        if held is None:
            if data:  # a copy of a mutable buffer: the caller may reuse it once write returns
                self._held = data if type(data) is bytes else bytes(data)
                self._loop.call_soon(self._flush)
            return
        self._held = None
        if len(data) > JOIN_LIMIT:
            self._transport.write(held)
            self._transport.write(data)
        else:
            self._transport.write(b"".join((held, data)))

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def writelines(self, list_of_data: Iterable[_Data]) -> None:
        self.write(b"".join(list_of_data))

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_write_buffer_size(self) -> int:
        held = len(self._held) if self._held is not None else 0
        return self._transport.get_write_buffer_size() + held

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a :class:`CoalescingTransport` (``http=`` of uvicorn)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))
