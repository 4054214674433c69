"""``/v1/metrics/learning``: is the model getting better? Read by analysts."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from decisioning.learning_metrics import summarise

from ..deps import RuntimeDep, require_role
from ..schemas import ControlMetrics, LearningMetrics, Lift, OfferMetrics

router = APIRouter(prefix="/v1/metrics", tags=["metrics"])


def _rate(accepted: int, n: int) -> float | None:
    return accepted / n if n else None


@router.get(
    "/learning", response_model=LearningMetrics, dependencies=[Depends(require_role("analyst"))]
)
async def learning(runtime: RuntimeDep) -> LearningMetrics:
    stats = await runtime.store.decisions.stats()
    summary = summarise(stats, [o.offer_id for o in runtime.catalogue.offers])
    snapshot = runtime.model.snapshot
    value, low, high = summary.lift
    return LearningMetrics(
        model_version=snapshot.version,
        outcomes_learned=snapshot.n_learned,
        offers=[
            OfferMetrics(
                offer_id=o.offer_id,
                impressions=o.impressions,
                accepted=o.accepted,
                declined=o.declined,
                ignored=o.ignored,
                acceptance_rate=o.acceptance_rate,
            )
            for o in summary.offers
        ],
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
    )
