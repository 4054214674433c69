"""Request limits enforced before any handler runs: body size, JSON nesting depth, and no control
characters in the path or query parameters.

A pure ASGI middleware (no per-request objects beyond the body it must read anyway). A body over
``max_body_bytes`` is refused with 413 as soon as it is known to be too large (from
``Content-Length`` or while it streams in); a JSON body nested deeper than ``max_json_depth`` gets
422 naming ``body``, before a parser could recurse into it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
import orjson

__all__ = ["LimitsMiddleware", "json_depth", "too_deep"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the whole ``body`` already read, then the real one
    (which then says when the client disconnects)."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


_INLINE_BYTES = 65_536
"""Bodies up to this size are checked on the event loop (microseconds); larger ones in a thread,
so that a hostile megabyte cannot stall other requests."""
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEPS = np.zeros(256, dtype=np.int32)
_STEPS[[ord("["), ord("{")]] = 1
_STEPS[[ord("]"), ord("}")]] = -1


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in ``body`` (brackets inside strings ignored).

    >>> json_depth(b'{"a": [1, {"b": "[[[["}]}')
    3
    >>> json_depth(b'42')
    0
    """
    return _depth(_STRING.sub(b"", body))


def _depth(body: bytes) -> int:
    brackets = np.frombuffer(body.translate(None, _NOT_BRACKETS), dtype=np.uint8)
    if brackets.size == 0:
        return 0
    return max(0, int(np.cumsum(_STEPS[brackets]).max()))


def too_deep(body: bytes, limit: int) -> bool:
    """``json_depth(body) > limit``, cheaply for ordinary bodies: brackets inside strings can only
    add to the depth, so the strings are stripped (the slow part) only when the quick count is
    already over the limit."""
    if body.count(b"[") + body.count(b"{") <= limit or _depth(body) <= limit:
        return False
    return json_depth(body) > limit


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _control_characters(scope: Scope) -> str | None:
    """The query parameter (or ``path``) holding a control character, which no id, name or
    filter of ours may contain (and PostgreSQL cannot even store a NUL), else None."""
    if _CONTROL.search(scope.get("path", "")):
        return "path"
    query = scope.get("query_string", b"")
    if query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if _CONTROL.search(name) or _CONTROL.search(value):
                return _CONTROL.sub("?", name)[:64] or "query"
    return None


class LimitsMiddleware:
    """Refuse oversized and too deeply nested request bodies with a clear 4xx."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_json_depth: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bad = _control_characters(scope)
        if bad is not None:
            detail = f"{bad}: contains a NUL or another control character"
            await self._refuse(send, 422, detail, field=bad)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await self._refuse(send, 413, self._too_large())
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._refuse(send, 413, self._too_large())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if b"json" in headers.get(b"content-type", b"") and (
            too_deep(body, self.max_json_depth)
            if len(body) < _INLINE_BYTES
            else await asyncio.to_thread(too_deep, body, self.max_json_depth)
        ):
            await self._refuse(
                send,
                422,
                f"body: JSON nested deeper than {self.max_json_depth} levels (NBO_MAX_JSON_DEPTH)",
            )
            return
        await self.app(scope, replaying(body, receive), send)

    def _too_large(self) -> str:
        return (
            f"body: larger than {self.max_body_bytes} bytes (NBO_MAX_BODY_BYTES); "
            "split it (e.g. bulk events in several calls)"
        )

    async def _refuse(self, send: Send, status: int, detail: str, field: str = "body") -> None:
        error = "payload_too_large" if status == 413 else "invalid_input"
        payload = orjson.dumps({"error": error, "field": field, "detail": detail})
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
