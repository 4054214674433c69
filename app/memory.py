"""Flat memory for a long-running service on glibc: fewer malloc arenas, free pages given back.

glibc gives each thread that allocates its own arena (up to 8 per core). nbo's threads (SQL
writes, snapshot loading, via ``asyncio.to_thread``) each grow an arena of their own that is
fragmented and rarely returned to the system, so RSS crept up for the whole of a 10-minute soak
(bench/soak.py: +9.6 MB in 4 minutes with glibc's default, +4.6 MB with 2 arenas), while the
memory actually in use grew by about 1 MB (memray, leaked allocations over 5 minutes).

- ``limit_malloc_arenas`` has the effect of ``MALLOC_ARENA_MAX``, set from ``NBO_MALLOC_ARENAS``
  before any thread starts; an explicit ``MALLOC_ARENA_MAX`` in the environment wins.
- ``trim_forever`` calls ``malloc_trim(0)`` every ``NBO_MALLOC_TRIM_S``: glibc then hands the
  free pages inside its heaps back to the system, so RSS follows what is in use.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import os
import sys
from typing import Any

__all__ = ["limit_malloc_arenas", "trim_forever", "trim_free_memory"]

_M_ARENA_MAX = -8  # from glibc's malloc.h


@functools.cache
def _glibc(function: str) -> Any | None:
    """A glibc function, or None elsewhere (macOS, musl); looked up once.

    Once, and without ``ctypes.util.find_library``: that runs ``ldconfig -p`` in a subprocess and
    parses its output on every call. Called every 30 s from a worker thread, it grew that thread's
    malloc arena by about 0.5 MB each time (strace: the heap extended page by page exactly at each
    trim), which was most of the service's RSS growth in a soak with outcomes flowing.
    ``CDLL(None)`` is the process's own symbol table, where glibc already is.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(None), function)
    except (OSError, AttributeError):
        return None


def limit_malloc_arenas(arenas: int) -> bool:
    """Cap glibc's arenas at ``arenas`` (0 leaves glibc's default); True when applied."""
    if arenas <= 0 or "MALLOC_ARENA_MAX" in os.environ:
        return False
    mallopt = _glibc("mallopt")
    return mallopt is not None and bool(mallopt(_M_ARENA_MAX, arenas))


def trim_free_memory() -> bool:
    """Give glibc's free heap pages back to the system; True when some were."""
    malloc_trim = _glibc("malloc_trim")
    return malloc_trim is not None and bool(malloc_trim(0))


async def trim_forever(stop: asyncio.Event, interval_s: float) -> None:
    """``trim_free_memory`` every ``interval_s`` (0: never), in a thread: ctypes lets go of the
    GIL, so the event loop keeps serving while glibc walks its heaps."""
    if interval_s <= 0 or _glibc("malloc_trim") is None:
        return
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
        if not stop.is_set():
            await asyncio.to_thread(trim_free_memory)
