"""How well the served propensities predict acceptance: rolling AUC and calibration, per offer.

The learner updates these with the propensity each decision was served with (logged at decision
time) and the outcome, before learning from it: progressive validation on exactly what customers
saw. AUC uses river's exact ``RollingROCAUC``; calibration compares mean predicted and observed
acceptance per propensity bucket.

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

from typing import Any

from river import metrics

__all__ = ["CALIBRATION_EDGES", "LearningTracker"]

CALIBRATION_EDGES = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)
"""Bucket edges for calibration: propensities are small, so the low end is finer."""


class LearningTracker:
    """Rolling AUC per offer and overall, and calibration buckets, from served propensities."""

    def __init__(self, *, window: int = 1000, max_offers: int = 5000) -> None:
        self.window = window
        self.max_offers = max_offers
        self._overall = metrics.RollingROCAUC(window_size=window)  # type: ignore[no-untyped-call]
        self._per_offer: dict[str, Any] = {}
        self._counts: dict[str, int] = {}
        self._classes: dict[str, list[int]] = {"": [0, 0]}
        """Negatives and positives seen, overall ("") and per offer: AUC needs both."""
        self._buckets = [[0.0, 0.0, 0] for _ in CALIBRATION_EDGES[1:]]

    def update(self, offer_id: str, propensity: float, accepted: bool) -> None:
        self._overall.update(accepted, propensity)  # type: ignore[no-untyped-call]
        self._classes[""][int(accepted)] += 1
        auc = self._per_offer.get(offer_id)
        if auc is None:
            if len(self._per_offer) >= self.max_offers:
                return
            auc = self._per_offer[offer_id] = metrics.RollingROCAUC(  # type: ignore[no-untyped-call]
                window_size=self.window
            )
        auc.update(accepted, propensity)
        self._counts[offer_id] = self._counts.get(offer_id, 0) + 1
        self._classes.setdefault(offer_id, [0, 0])[int(accepted)] += 1
        for n, high in enumerate(CALIBRATION_EDGES[1:]):
            if propensity <= high:
                bucket = self._buckets[n]
                bucket[0] += propensity
                bucket[1] += float(accepted)
                bucket[2] += 1
                break

    def summary(self) -> dict[str, Any]:
        """A JSON-able view for analysts (AUC is None until both outcomes were seen)."""

        def auc(metric: Any, key: str) -> float | None:
            if min(self._classes.get(key, [0, 0])) == 0:
                return None  # undefined until both an acceptance and a refusal were seen
            value = float(metric.get())
            return None if value != value else round(value, 4)

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
            "auc": auc(self._overall, ""),
            "offers": {
                o: {"auc": auc(m, o), "n": self._counts.get(o, 0)}
                for o, m in self._per_offer.items()
            },
            "calibration": calibration,
        }
