"""Where a lone decision's CPU goes: the funnel's stages timed with the thread's CPU clock.

``bench/decision_cpu.py --only decide`` gives the whole funnel's CPU per decision, one decision
at a time (as most decisions are at half the maximum rate, where none shares its loop turn,
Redis write or arbitration batch with another). This runs the same and wraps the funnel's
stages with a timer of the thread's CPU time, so the total splits into its parts:

    python bench/decision_stages.py --redis-url redis://127.0.0.1:6379/7

An async stage's figure includes what the event loop ran while it awaited (its Redis round
trip: the socket write, the reply's parsing), which in a one-at-a-time run is that stage's own
I/O. Nested stages are indented under the stage that calls them. Only the measured runs are
counted (not the warm-up). The timers add about 45 µs to a decision's CPU (compare the
``decide`` row with ``bench/decision_cpu.py --only decide``'s).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import inspect
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import decision_cpu  # noqa: E402

import decisioning.batching as batching  # noqa: E402
import decisioning.contact_policy as contact_policy  # noqa: E402
import decisioning.eligibility as eligibility  # noqa: E402
import decisioning.funnel as funnel  # noqa: E402
import feature_store.customers as customers  # noqa: E402
import feature_store.decisions as decisions  # noqa: E402
import feature_store.wire as wire  # noqa: E402
import models.policy as policy  # noqa: E402
import models.snapshot as snapshot  # noqa: E402

_TOTAL: collections.Counter[str] = collections.Counter()
_CALLS: collections.Counter[str] = collections.Counter()
WHOLE = "decide (the funnel)"

STAGES: list[tuple[Any, str, str]] = [
    (funnel.Decider, "decide", WHOLE),
    (customers.RedisCustomers, "get", "  customer read (with its round trip)"),
    (funnel, "aggregate_features", "  real-time aggregates"),
    (funnel, "decision_context", "  decision context"),
    (eligibility.Screen, "passing", "  eligibility"),
    (contact_policy.ContactPolicy, "blocked", "  contact policy"),
    (batching.ArbitrationBatch, "_run", "  arbitration (a batch of one)"),
    (snapshot.Snapshot, "score", "    scoring"),
    (policy.ThompsonPolicy, "choose_batch", "    Thompson choice"),
    (policy, "top_one_batch", "      the shown offer's probability"),
    (funnel.Decider, "_log", "  decision log (with its round trip)"),
    (decisions.RedisDecisionLog, "record", "    the write"),
    (wire._Protocol, "_flush", "  writes to the Redis socket"),
    (wire._Protocol, "data_received", "  replies parsed"),
]
"""(owner, attribute, label): module functions are wrapped where the funnel looks them up."""


def timed(func: Callable[..., Any], label: str) -> Callable[..., Any]:
    clock = time.thread_time_ns
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            start = clock()
            try:
                return await func(*args, **kwargs)
            finally:
                _TOTAL[label] += clock() - start
                _CALLS[label] += 1

        return run_async

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        start = clock()
        try:
            return func(*args, **kwargs)
        finally:
            _TOTAL[label] += clock() - start
            _CALLS[label] += 1

    return run


def report() -> None:
    n = _CALLS[WHOLE]
    if not n:
        return
    print(f"\nCPU µs per decision by stage, over the {n:,} measured decisions:")
    for _owner, _name, label in STAGES:
        if _CALLS[label]:
            per = _TOTAL[label] / 1e3 / n
            print(f"  {per:8.1f}  {label:<44} {_CALLS[label] / n:.2f} calls per decision")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--decisions", type=int, default=3000, help="per run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for owner, name, label in STAGES:
        setattr(owner, name, timed(getattr(owner, name), label))
    cpu_s = decision_cpu.cpu_s
    started = False

    def cpu_s_first_clears() -> float:
        """The first measured run starts here: what came before (warm-up) is not counted."""
        nonlocal started
        if not started:
            started = True
            _TOTAL.clear()
            _CALLS.clear()
        return cpu_s()

    decision_cpu.cpu_s = cpu_s_first_clears
    sys.argv = [
        "decision_cpu.py",
        "--redis-url", args.redis_url,
        "--only", "decide",
        "--no-floor",
        "--decisions", str(args.decisions),
        "--repeats", str(args.repeats),
    ]  # fmt: skip
    try:
        asyncio.run(decision_cpu.main())
    finally:
        report()


if __name__ == "__main__":
    main()
