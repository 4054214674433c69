"""Records every garbage collection of the process it is loaded in (``bench/worker_cpu.py --gc``).

Put on ``PYTHONPATH`` with ``NBO_BENCH_GC_DIR`` set, Python imports it at startup: each
collection's generation and pause (ms) is appended to a list that a thread writes to
``$NBO_BENCH_GC_DIR/gc.<pid>.json`` every half second, for the bench to read.
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time
from typing import Any

_OUT = os.environ.get("NBO_BENCH_GC_DIR")
_pauses: list[tuple[int, float]] = []
_started = [0.0]


def _timer(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        _pauses.append((int(info["generation"]), (time.perf_counter() - _started[0]) * 1e3))


def _write_forever(path: str) -> None:
    while True:
        time.sleep(0.5)
        with open(path + ".tmp", "w") as out:
            json.dump({"pauses": _pauses, "frozen": gc.get_freeze_count()}, out)
        os.replace(path + ".tmp", path)


if _OUT:
    gc.callbacks.append(_timer)
    target = os.path.join(_OUT, f"gc.{os.getpid()}.json")
    threading.Thread(target=_write_forever, args=(target,), daemon=True).start()
