"""Python's cyclic garbage collector, set for a server that answers in milliseconds.

CPython's collector stops the process while it walks every container object of the generations
it collects. A full (oldest-generation) collection walks the whole heap: after startup a worker
holds about 200,000 such objects (FastAPI, pydantic, SQLAlchemy, numpy, the routes, the model's
indexes), and a steady stream of decisions keeps promoting in-flight request objects into the
oldest generation, so a full collection ran every few seconds under load. Measured by
``bench/worker_cpu.py --gc`` (one worker, wrk with 32 connections, 8 s): with Python's settings
6 full collections of up to 119 ms, 997 young and 90 middle ones, 111 µs of collection per
decision, and 980 µs of CPU per decision at 1,019 decisions/s; with these, no collection at all
in the run, 830 µs at 1,208/s. Every request that arrives during a 100 ms pause waits for it.

- ``settle_heap`` (after startup): collect once, then ``gc.freeze()`` what is left, so that
  collections never walk the modules, classes and routes again (they live as long as the
  process).
- ``tune_collector``: a young generation of ``young`` allocations instead of 700, so young
  collections run far less often; each one walks only the objects still alive, which for a
  server are the few requests in flight, so their total cost falls in proportion.
"""

from __future__ import annotations

import gc

__all__ = ["settle_heap", "tune_collector"]


def tune_collector(young: int) -> None:
    """Collect the young generation every ``young`` net allocations (0 keeps Python's 700)."""
    if young > 0:
        _, middle, old = gc.get_threshold()
        gc.set_threshold(young, middle, old)


def settle_heap() -> int:
    """Collect once and freeze the survivors out of every later collection; returns how many
    objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
