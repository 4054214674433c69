"""How well the served propensities predict acceptance: rolling AUC and calibration, per offer.

The learner updates these with the propensity each decision was served with (logged at decision
time) and the outcome, before learning from it: progressive validation on exactly what customers
saw. The AUC is exact (Mann-Whitney) over the latest ``window`` outcomes, overall and per offer;
calibration compares mean predicted and observed acceptance per propensity bucket.

Each window is a fixed pair of typed arrays (5 bytes an outcome), allocated when its offer is
first seen: memory and checkpoint size are bounded by offers x window from the start, and do not
creep up as windows fill (river's ``RollingROCAUC`` held ~150 bytes of Python objects per outcome
in the window and made a 38-offer checkpoint 0.8 MB).

>>> tracker = LearningTracker(window=100)
>>> for p, y in [(0.1, False), (0.3, True), (0.05, False), (0.4, True)]:
...     tracker.update("o1", p, y)
>>> tracker.summary()["offers"]["o1"]["auc"]
1.0
>>> tracker.update("o2", 0.2, True)
>>> tracker.summary()["offers"]["o2"]["auc"] is None
True
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["CALIBRATION_EDGES", "LearningTracker", "RollingWindow", "exact_auc"]

CALIBRATION_EDGES = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)
"""Bucket edges for calibration: propensities are small, so the low end is finer."""


def exact_auc(
    scores: Sequence[float] | npt.NDArray[Any], labels: Sequence[bool] | npt.NDArray[Any]
) -> float | None:
    """Area under the ROC curve over all the rows (Mann-Whitney, ties counted half).

    None until both classes were seen.

    >>> exact_auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True])
    0.75
    >>> exact_auc([0.5, 0.5], [False, True])
    0.5
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    _, first, counts = np.unique(s[order], return_index=True, return_counts=True)
    ranks: npt.NDArray[np.float64] = np.empty(len(s))
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)
    u = float(ranks[y].sum()) - positives * (positives + 1) / 2
    return round(u / (positives * negatives), 4)


class RollingWindow:
    """The latest ``size`` (propensity, outcome) pairs, in a ring buffer, and their exact AUC."""

    __slots__ = ("_auc", "_fresh", "_labels", "_n", "_next", "_scores")

    def __init__(self, size: int) -> None:
        # plain typed arrays: a store is ~10x cheaper than into a numpy array, and numpy reads
        # them without a copy when the AUC is asked for
        self._scores = array("f", bytes(4 * size))
        self._labels = array("b", bytes(size))
        self._n = 0
        self._next = 0
        self._auc: float | None = None
        self._fresh = True

    def add(self, score: float, label: bool) -> None:
        self._scores[self._next] = score
        self._labels[self._next] = label
        self._next = (self._next + 1) % len(self._scores)
        self._n = min(self._n + 1, len(self._scores))
        self._fresh = False

    def auc(self) -> float | None:
        """Recomputed only when outcomes came in since it was last asked for."""
        if not self._fresh:
            n = self._n
            scores = np.frombuffer(self._scores, dtype=np.float32, count=n)
            labels = np.frombuffer(self._labels, dtype=np.int8, count=n).astype(bool)
            self._auc = exact_auc(scores, labels)
            self._fresh = True
        return self._auc

    def __getstate__(self) -> dict[str, Any]:
        return {"scores": self._scores, "labels": self._labels, "n": self._n, "next": self._next}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._scores, self._labels = state["scores"], state["labels"]
        self._n, self._next = state["n"], state["next"]
        self._auc, self._fresh = None, False


class LearningTracker:
    """Rolling AUC per offer and overall, and calibration buckets, from served propensities."""

    def __init__(self, *, window: int = 1000, max_offers: int = 5000) -> None:
        self.window = window
        self.max_offers = max_offers
        self._overall = RollingWindow(window)
        self._per_offer: dict[str, RollingWindow] = {}
        self._counts: dict[str, int] = {}
        self._buckets = [[0.0, 0.0, 0] for _ in CALIBRATION_EDGES[1:]]

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if not isinstance(self._overall, RollingWindow):
            # a checkpoint from before the ring buffers (river's RollingROCAUC): the counts and
            # calibration carry over, the AUC windows fill again
            self._overall = RollingWindow(self.window)
            self._per_offer = {o: RollingWindow(self.window) for o in self._per_offer}
            self.__dict__.pop("_classes", None)

    def update(self, offer_id: str, propensity: float, accepted: bool) -> None:
        self._overall.add(propensity, accepted)
        window = self._per_offer.get(offer_id)
        if window is None:
            if len(self._per_offer) >= self.max_offers:
                return
            window = self._per_offer[offer_id] = RollingWindow(self.window)
        window.add(propensity, accepted)
        self._counts[offer_id] = self._counts.get(offer_id, 0) + 1
        for n, high in enumerate(CALIBRATION_EDGES[1:]):
            if propensity <= high:
                bucket = self._buckets[n]
                bucket[0] += propensity
                bucket[1] += float(accepted)
                bucket[2] += 1
                break

    def summary(self) -> dict[str, Any]:
        """A JSON-able view for analysts (AUC is None until the window holds both outcomes)."""
        calibration = [
            {
                "bucket_low": CALIBRATION_EDGES[n],
                "bucket_high": CALIBRATION_EDGES[n + 1],
                "predicted": round(b[0] / b[2], 5),
                "observed": round(b[1] / b[2], 5),
                "n": int(b[2]),
            }
            for n, b in enumerate(self._buckets)
            if b[2]
        ]
        return {
            "auc": self._overall.auc(),
            "offers": {
                o: {"auc": w.auc(), "n": self._counts.get(o, 0)} for o, w in self._per_offer.items()
            },
            "calibration": calibration,
        }
