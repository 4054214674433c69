"""The malloc arena cap is applied in a real process, and an explicit MALLOC_ARENA_MAX wins."""

from __future__ import annotations

import os
import subprocess
import sys

CHECK = "from app.memory import limit_malloc_arenas as f; print(f(2), f(0))"


def test_arenas_are_capped_unless_malloc_arena_max_is_set() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    capped = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True)
    assert capped.stdout.split() == ["True", "False"]
    given = subprocess.run(
        [sys.executable, "-c", CHECK], env=env | {"MALLOC_ARENA_MAX": "4"},
        capture_output=True, text=True,
    )  # fmt: skip
    assert given.stdout.split() == ["False", "False"]


TRIM = """
import ctypes, re
from pathlib import Path
from app.memory import trim_free_memory
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def rss():
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\\s+(\\d+)", status).group(1)) // 1024
blocks = [libc.malloc(1024) for _ in range(100_000)]
for b in blocks:
    ctypes.memset(b, 1, 1024)
for b in blocks[:-1]:  # the last one keeps glibc from trimming the top of its heap itself
    libc.free(b)
before = rss()
trimmed = trim_free_memory()
print(before, rss(), trimmed)
"""


def test_trimming_hands_freed_heap_pages_back_to_the_system() -> None:
    done = subprocess.run([sys.executable, "-c", TRIM], capture_output=True, text=True)
    before, after, trimmed = done.stdout.split()
    assert trimmed == "True"
    assert int(before) - int(after) >= 50  # MB: ~100 MB of 1 kB blocks were freed


REPEATED = """
import subprocess
from app.memory import _glibc, trim_free_memory
trim_free_memory()
spawned = []
real = subprocess.Popen.__init__
def counting(self, *args, **kwargs):
    spawned.append(args)
    real(self, *args, **kwargs)
subprocess.Popen.__init__ = counting
for _ in range(20):
    trim_free_memory()  # True only when pages were handed back: not asserted
print(_glibc("malloc_trim") is not None, len(spawned))
"""


def test_trimming_again_and_again_starts_no_process() -> None:
    """A trim runs every 30 s for the life of the service; looking glibc up each time (with
    ``ctypes.util.find_library``, which runs ``ldconfig``) grew the trimming thread's heap."""
    done = subprocess.run([sys.executable, "-c", REPEATED], capture_output=True, text=True)
    assert done.stdout.split() == ["True", "0"], done.stderr
