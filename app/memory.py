"""Fewer glibc malloc arenas: flat memory for a long-running service that uses a few threads.

glibc gives each thread that allocates its own arena (up to 8 per core). nbo's threads (SQL
writes, snapshot loading, via ``asyncio.to_thread``) each grow an arena of their own that is
fragmented and rarely returned to the system, so RSS crept up for the whole of a 10-minute soak
(bench/soak.py: +9.6 MB in 4 minutes with glibc's default, +4.6 MB with 2 arenas). It has the
effect of ``MALLOC_ARENA_MAX``, set from ``NBO_MALLOC_ARENAS`` before any thread starts; an
explicit ``MALLOC_ARENA_MAX`` in the environment wins.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["limit_malloc_arenas"]

_M_ARENA_MAX = -8  # from glibc's malloc.h


def limit_malloc_arenas(arenas: int) -> bool:
    """Cap glibc's arenas at ``arenas`` (0 leaves glibc's default); True when applied."""
    if arenas <= 0 or "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas))
