"""Learning metrics from the archived interaction log, for any channel, offer and time window.

The live counters in Redis answer "how is it going overall" instantly; the archive answers the
analyst's narrower questions (this channel, this offer, last Tuesday) from the same facts the
learner learned from: each shown offer's served propensity, probability, control flag and what
came of it. An impression counts here once its outcome is known (a response, or the window's
default); late responses are reported, never counted twice.

The off-policy estimate answers "what acceptance would the model we serve *now* get?" from the
control group: those decisions chose uniformly among logged candidates, so re-asking the current
model which candidate it would pick gives an unbiased IPS / SNIPS estimate (:mod:`models.offline`).

>>> rows = [
...     {"decision_id": "d1", "offer_id": "A", "outcome": "accepted", "source": "response",
...      "control_group": False, "explored": False, "propensity": 0.6, "decided_ms": 0},
...     {"decision_id": "d2", "offer_id": "A", "outcome": "declined", "source": "response",
...      "control_group": False, "explored": True, "propensity": 0.2, "decided_ms": 0},
... ]
>>> m = summarise_interactions(rows)
>>> m.offers[0].accepted, m.offers[0].impressions, m.offers[0].auc, m.exploration_share
(1, 2, 1.0, 0.5)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from models.learning_metrics import CALIBRATION_EDGES, exact_auc
from models.offline import Estimate, ips, snips

from .learning_metrics import OfferCounts, lift_interval

__all__ = [
    "InteractionSummary",
    "OffPolicyEstimate",
    "exact_auc",
    "off_policy_estimate",
    "summarise_interactions",
]

COUNTED_SOURCES = ("response", "window")
"""What each shown offer resolved to; ``late`` rows are answers after that, reported apart."""


@dataclass(frozen=True, slots=True)
class OfferRow:
    counts: OfferCounts
    auc: float | None
    late: int

    @property
    def offer_id(self) -> str:
        return self.counts.offer_id

    @property
    def impressions(self) -> int:
        return self.counts.impressions

    @property
    def accepted(self) -> int:
        return self.counts.accepted


@dataclass(frozen=True, slots=True)
class InteractionSummary:
    offers: list[OfferRow]
    control_decisions: int
    control_accepted: int
    model_decisions: int
    model_accepted: int
    lift: tuple[float | None, float | None, float | None]
    auc: float | None
    calibration: list[dict[str, Any]]
    exploration_share: float | None
    timeline: list[dict[str, Any]]
    rows: int


def summarise_interactions(rows: Sequence[Mapping[str, Any]]) -> InteractionSummary:
    """Per-offer counts and AUC, model vs control lift, calibration, exploration, per hour."""
    scored: dict[str, tuple[list[float], list[bool]]] = {}
    per_offer: dict[str, dict[str, int]] = {}
    decisions: dict[str, dict[str, Any]] = {}
    for r in rows:
        tally = per_offer.setdefault(r["offer_id"], {})
        if r["source"] not in COUNTED_SOURCES:
            tally["late"] = tally.get("late", 0) + 1
            continue
        tally["shown"] = tally.get("shown", 0) + 1
        tally[r["outcome"]] = tally.get(r["outcome"], 0) + 1
        accepted = r["outcome"] == "accepted"
        if r.get("propensity") is not None and r["outcome"] != "expired":
            for key in (r["offer_id"], ""):
                scores, labels = scored.setdefault(key, ([], []))
                scores.append(float(r["propensity"]))
                labels.append(accepted)
        d = decisions.setdefault(
            r["decision_id"],
            {"control": bool(r["control_group"]), "accepted": False, "explored": False},
        )
        d["accepted"] |= accepted
        d["explored"] |= bool(r["explored"])
        d["hour"] = r["decided_ms"] // 3_600_000
    offers = [
        OfferRow(
            counts=OfferCounts(
                offer_id=offer_id,
                impressions=t.get("shown", 0),
                accepted=t.get("accepted", 0),
                declined=t.get("declined", 0),
                ignored=t.get("ignored", 0),
            ),
            auc=exact_auc(*scored.get(offer_id, ([], []))),
            late=t.get("late", 0),
        )
        for offer_id, t in sorted(per_offer.items())
    ]
    control = [d for d in decisions.values() if d["control"]]
    model = [d for d in decisions.values() if not d["control"]]
    control_acc = sum(d["accepted"] for d in control)
    model_acc = sum(d["accepted"] for d in model)
    return InteractionSummary(
        offers=offers,
        control_decisions=len(control),
        control_accepted=control_acc,
        model_decisions=len(model),
        model_accepted=model_acc,
        lift=lift_interval(
            model_accepted=model_acc,
            model_n=len(model),
            control_accepted=control_acc,
            control_n=len(control),
        ),
        auc=exact_auc(*scored.get("", ([], []))),
        calibration=calibration(*scored.get("", ([], []))),
        exploration_share=sum(d["explored"] for d in model) / len(model) if model else None,
        timeline=_timeline(decisions.values()),
        rows=len(rows),
    )


def calibration(scores: Sequence[float], labels: Sequence[bool]) -> list[dict[str, Any]]:
    """Mean predicted against observed acceptance per propensity bucket (the live view's edges)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    bucket = np.searchsorted(np.asarray(CALIBRATION_EDGES[1:]), s, side="left")
    out = []
    for n in range(len(CALIBRATION_EDGES) - 1):
        mask = bucket == n
        if mask.any():
            out.append(
                {
                    "bucket_low": CALIBRATION_EDGES[n],
                    "bucket_high": CALIBRATION_EDGES[n + 1],
                    "predicted": round(float(s[mask].mean()), 5),
                    "observed": round(float(y[mask].mean()), 5),
                    "n": int(mask.sum()),
                }
            )
    return out


def _timeline(decisions: Any) -> list[dict[str, Any]]:
    hours: dict[int, list[int]] = {}
    for d in decisions:
        h = hours.setdefault(int(d["hour"]), [0, 0, 0, 0])
        slot = 2 if d["control"] else 0
        h[slot] += 1
        h[slot + 1] += int(d["accepted"])
    return [
        {
            "t": datetime.fromtimestamp(hour * 3600, UTC).isoformat(),
            "decisions": h[0] + h[2],
            "model_rate": h[1] / h[0] if h[0] else None,
            "control_rate": h[3] / h[2] if h[2] else None,
        }
        for hour, h in sorted(hours.items())
    ]


@dataclass(slots=True)
class _ControlDecision:
    pick: str | None
    candidates: int
    shown: int = 0
    hit: bool = False
    accepted: bool = False


@dataclass(frozen=True, slots=True)
class OffPolicyEstimate:
    """The current policy's acceptance rate, estimated on logged control-group decisions."""

    ips: Estimate
    snips: Estimate
    control_decisions: int
    matched: int
    """Control decisions whose shown offer is the one the current policy would pick."""
    model_version: int


def off_policy_estimate(
    rows: Iterable[Mapping[str, Any]],
    choose: Callable[[Mapping[str, Any], Sequence[str]], str | None],
    *,
    model_version: int,
    n_boot: int = 500,
) -> OffPolicyEstimate | None:
    """IPS and SNIPS of ``choose`` (the current greedy policy) on control decisions.

    A control decision showed ``k`` of its ``n`` logged candidates uniformly at random, so each
    candidate was shown with probability ``k / n``. The reward is the acceptance of the offer
    ``choose`` picks, when it was shown; decisions where it was not carry weight zero.

    One pass in constant memory per decision: the policy's pick is made on a decision's first
    row (all its rows share context and candidates), so ``rows`` can be a stream.
    """
    by_decision: dict[str, _ControlDecision] = {}
    for r in rows:
        if not (r["control_group"] and r.get("candidates")) or r["source"] not in COUNTED_SOURCES:
            continue
        decision = by_decision.get(r["decision_id"])
        if decision is None:
            candidates = list(r["candidates"])
            decision = _ControlDecision(choose(r["context"], candidates), len(candidates))
            by_decision[r["decision_id"]] = decision
        decision.shown += 1
        if r["offer_id"] == decision.pick:
            decision.hit = True
            decision.accepted = r["outcome"] == "accepted"
    if not by_decision:
        return None
    decisions = by_decision.values()
    rewards = [1.0 if d.accepted else 0.0 for d in decisions]
    target = [1.0 if d.hit else 0.0 for d in decisions]
    logging = [min(1.0, d.shown / d.candidates) for d in decisions]
    return OffPolicyEstimate(
        ips=ips(rewards, target, logging, n_boot=n_boot),
        snips=snips(rewards, target, logging, n_boot=n_boot),
        control_decisions=len(by_decision),
        matched=int(sum(target)),
        model_version=model_version,
    )
