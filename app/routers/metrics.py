"""``/v1/metrics/learning``: is the model getting better? Read by analysts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends

from decisioning.learning_metrics import summarise
from models import describe_token

from ..deps import RuntimeDep, require_role
from ..schemas import ControlMetrics, LearningMetrics, Lift, OfferMetrics

router = APIRouter(prefix="/v1/metrics", tags=["metrics"])

TIMELINE_HOURS = 48


def _rate(accepted: int, n: int) -> float | None:
    return accepted / n if n else None


def _timeline(stats: dict[str, int]) -> list[dict[str, Any]]:
    """Acceptance per hour of decision, for the model and the control group (last 48 hours)."""
    hours: dict[int, dict[str, int]] = {}
    for name, count in stats.items():
        if name.startswith("h:"):
            _, bucket, rest = name.split(":", 2)
            hours.setdefault(int(bucket), {})[rest] = count
    out = []
    for hour in sorted(hours)[-TIMELINE_HOURS:]:
        h = hours[hour]
        control_n = h.get("control:decisions", 0)
        control_acc = h.get("control:accepted", 0)
        model_n = h.get("decisions", 0) - control_n
        model_acc = h.get("accepted", 0) - control_acc
        out.append(
            {
                "t": datetime.fromtimestamp(hour * 3600, UTC).isoformat(),
                "decisions": h.get("decisions", 0),
                "model_rate": _rate(model_acc, model_n),
                "control_rate": _rate(control_acc, control_n),
            }
        )
    return out


@router.get(
    "/learning", response_model=LearningMetrics, dependencies=[Depends(require_role("analyst"))]
)
async def learning(runtime: RuntimeDep) -> LearningMetrics:
    stats = await runtime.store.decisions.stats()
    offers = {o.offer_id: o for o in runtime.catalogue.offers}
    summary = summarise(stats, list(offers))
    snapshot = runtime.model.snapshot
    per_offer_learning: dict[str, Any] = snapshot.learning.get("offers", {})
    value, low, high = summary.lift
    rows = []
    for o in summary.offers:
        offer = offers.get(o.offer_id)
        drivers = snapshot.drivers(offer.example()) if offer is not None else []
        rows.append(
            OfferMetrics(
                offer_id=o.offer_id,
                impressions=o.impressions,
                accepted=o.accepted,
                declined=o.declined,
                ignored=o.ignored,
                acceptance_rate=o.acceptance_rate,
                auc=per_offer_learning.get(o.offer_id, {}).get("auc"),
                top_features=[
                    {"feature": describe_token(t), "token": t, "weight": round(w, 4)}
                    for t, w in drivers
                ],
            )
        )
    return LearningMetrics(
        model_version=snapshot.version,
        outcomes_learned=snapshot.n_learned,
        offers=rows,
        control=ControlMetrics(
            decisions=summary.control_decisions,
            accepted=summary.control_accepted,
            acceptance_rate=_rate(summary.control_accepted, summary.control_decisions),
        ),
        model=ControlMetrics(
            decisions=summary.model_decisions,
            accepted=summary.model_accepted,
            acceptance_rate=_rate(summary.model_accepted, summary.model_decisions),
        ),
        lift=Lift(value=value, ci_low=low, ci_high=high),
        auc=snapshot.learning.get("auc"),
        calibration=snapshot.learning.get("calibration", []),
        exploration_share=_rate(stats.get("explored", 0), summary.model_decisions),
        timeline=_timeline(stats),
    )
