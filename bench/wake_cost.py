"""What a short piece of work costs right after the thread slept, against back to back.

A worker serving decisions at a moderate rate sleeps between the steps of each decision (waiting
for the request, for Redis's reply to the read, for its reply to the write) and runs each step
"cold"; at full load it never sleeps and runs them warm. On a virtual machine the difference is
large (idle virtual CPUs, caches other processes used meanwhile), and it is a property of the
machine, not of nbo: this script runs one fixed piece of Python and numpy work (tokens, a dict,
a gather and twenty small matrix-vector products: about a decision's scoring) ``--calls`` times,
back to back and then with a sleep of 0.5, 2 and 5 ms after each call, and prints the process's
CPU time per call and its ratio to the back-to-back figure.

    python bench/wake_cost.py [--calls 1500]

It explains why ``bench/load.py`` finds nbo's CPU per decision at half its maximum rate well
above the figure at the maximum, where decisions share their wake-ups.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def make_work() -> tuple[dict[str, float], np.ndarray]:
    rng = np.random.default_rng(1)
    return {f"f{i}": i * 1.5 for i in range(40)}, rng.standard_normal((80, 100))


def work(features: dict[str, float], weights: np.ndarray) -> str:
    tokens = [(f"{name}={value}", 1.0) for name, value in features.items()]
    index = {token: n for n, (token, _) in enumerate(tokens)}
    x = np.zeros(weights.shape[0])
    x[[index[token] % weights.shape[0] for token, _ in tokens]] = 1.0
    best = 0.0
    for _ in range(20):
        best += float((x @ weights).max())
    return json.dumps({"best": best, "tokens": tokens[:10]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1500)
    args = parser.parse_args()
    features, weights = make_work()
    for _ in range(200):  # warm the interpreter's caches
        work(features, weights)
    baseline = 0.0
    for gap_ms in (0.0, 0.5, 2.0, 5.0):
        started = cpu_seconds()
        for _ in range(args.calls):
            work(features, weights)
            if gap_ms:
                time.sleep(gap_ms / 1e3)
        per_call = (cpu_seconds() - started) / args.calls * 1e6
        baseline = baseline or per_call
        print(f"sleep {gap_ms:3.1f} ms after each call: {per_call:6.0f} µs CPU per call "
              f"({per_call / baseline:.2f}x back to back)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
