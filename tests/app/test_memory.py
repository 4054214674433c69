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
