"""The learner's rolling AUC: exact over its window, and bounded in memory and checkpoint size."""

from __future__ import annotations

import pickle
import random

import pytest
from river import metrics

from models.learning_metrics import LearningTracker, RollingWindow


def test_rolling_window_agrees_with_rivers_rolling_roc_auc() -> None:
    rng = random.Random(3)
    window, reference = RollingWindow(200), metrics.RollingROCAUC(window_size=200)
    for step in range(1, 1500):
        score, label = rng.random(), rng.random() < 0.3
        window.add(score, label)
        reference.update(label, score)
        if step % 97 == 0:
            assert window.auc() == pytest.approx(reference.get(), abs=1e-4)


def test_rolling_window_counts_ties_half_over_the_latest_outcomes_only() -> None:
    rng = random.Random(4)
    window = RollingWindow(50)
    pairs = [(round(rng.random(), 1), rng.random() < 0.4) for _ in range(120)]
    for score, label in pairs:
        window.add(score, label)
    latest = pairs[-50:]
    pos = [s for s, y in latest if y]
    neg = [s for s, y in latest if not y]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    assert window.auc() == pytest.approx(wins / (len(pos) * len(neg)), abs=1e-4)


def test_the_checkpointed_tracker_stops_growing_once_every_window_is_full() -> None:
    rng = random.Random(5)
    tracker = LearningTracker(window=500)
    offers = [f"o{i}" for i in range(40)]

    def feed(n: int) -> int:
        for _ in range(n):
            tracker.update(rng.choice(offers), rng.random() * 0.3, rng.random() < 0.1)
        tracker.summary()
        return len(pickle.dumps(tracker))

    full = feed(40 * 500 * 3)
    assert full < 40 * 500 * 6 + 20_000  # 5 bytes an outcome in a window, and a little more
    assert feed(40 * 500 * 3) == pytest.approx(full, abs=200)  # only the counts grow


def test_a_tracker_from_before_the_ring_buffers_loads_and_keeps_its_counts() -> None:
    old = LearningTracker.__new__(LearningTracker)
    old.__dict__.update(
        window=100,
        max_offers=5000,
        _overall=metrics.RollingROCAUC(window_size=100),
        _per_offer={"o1": metrics.RollingROCAUC(window_size=100)},
        _counts={"o1": 7},
        _classes={"": [5, 2], "o1": [5, 2]},
        _buckets=[[0.7, 2.0, 7]] + [[0.0, 0.0, 0] for _ in range(8)],
    )
    tracker = pickle.loads(pickle.dumps(old))
    assert tracker.summary()["offers"]["o1"] == {"auc": None, "n": 7}
    for p, y in [(0.1, False), (0.4, True)]:
        tracker.update("o1", p, y)
    summary = tracker.summary()
    assert summary["offers"]["o1"] == {"auc": 1.0, "n": 9}
    assert sum(bucket["n"] for bucket in summary["calibration"]) == 9
