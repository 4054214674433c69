"""Learning metrics for analysts, from the counters the decision log keeps.

Lift is the model's acceptance rate over the control group's (decisions served uniformly at
random), with a 95% interval on the ratio from the delta method on its logarithm (Katz).

>>> lift_interval(model_accepted=120, model_n=1000, control_accepted=40, control_n=1000)
(3.0, 2.1..., 4.2...)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["LearningSummary", "OfferCounts", "lift_interval", "summarise"]


@dataclass(frozen=True, slots=True)
class OfferCounts:
    offer_id: str
    impressions: int
    accepted: int
    declined: int
    ignored: int

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.impressions if self.impressions else None


@dataclass(frozen=True, slots=True)
class LearningSummary:
    offers: list[OfferCounts]
    control_decisions: int
    control_accepted: int
    model_decisions: int
    model_accepted: int
    lift: tuple[float | None, float | None, float | None]


def lift_interval(
    *, model_accepted: int, model_n: int, control_accepted: int, control_n: int, z: float = 1.96
) -> tuple[float | None, float | None, float | None]:
    """Ratio of acceptance rates with a 95% CI; Nones when either group has no acceptances."""
    if model_n == 0 or control_n == 0 or model_accepted == 0 or control_accepted == 0:
        return None, None, None
    ratio = (model_accepted / model_n) / (control_accepted / control_n)
    se = math.sqrt(1 / model_accepted - 1 / model_n + 1 / control_accepted - 1 / control_n)
    return ratio, ratio * math.exp(-z * se), ratio * math.exp(z * se)


def summarise(stats: Mapping[str, int], offer_ids: Sequence[str] | None = None) -> LearningSummary:
    """Turn the decision log's counters into per-offer and control/model figures."""
    ids: set[str] = set(offer_ids or ())
    for name in stats:
        kind, _, offer_id = name.partition(":")
        if kind in ("shown", "accepted", "declined", "ignored") and offer_id:
            ids.add(offer_id)
    offers = [
        OfferCounts(
            offer_id=o,
            impressions=stats.get(f"shown:{o}", 0),
            accepted=stats.get(f"accepted:{o}", 0),
            declined=stats.get(f"declined:{o}", 0),
            ignored=stats.get(f"ignored:{o}", 0),
        )
        for o in sorted(ids)
    ]
    control_n = stats.get("control:decisions", 0)
    control_acc = stats.get("control:accepted", 0)
    total_n = stats.get("decisions", 0)
    total_acc = sum(o.accepted for o in offers)
    model_n, model_acc = total_n - control_n, total_acc - control_acc
    return LearningSummary(
        offers=offers,
        control_decisions=control_n,
        control_accepted=control_acc,
        model_decisions=model_n,
        model_accepted=model_acc,
        lift=lift_interval(
            model_accepted=model_acc,
            model_n=model_n,
            control_accepted=control_acc,
            control_n=control_n,
        ),
    )
