"""``/v1/metrics/learning``: is the model getting better? Read by analysts.

Unfiltered, it answers from the live Redis counters and the learner's rolling metrics; with a
channel, offer or time window it answers from the SQL interaction archive. Both carry the
off-policy estimate of the served model, computed on archived control-group decisions.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from decisioning.archive import InteractionFilter
from decisioning.interaction_metrics import (
    InteractionSummary,
    off_policy_estimate,
    summarise_interactions,
)
from decisioning.learning_metrics import LearningSummary, summarise
from models import describe_token

from ..deps import RuntimeDep, require_role
from ..runtime import Runtime
from ..schemas import (
    ID_PATTERN,
    NAME_PATTERN,
    ControlMetrics,
    LearningFilters,
    LearningMetrics,
    Lift,
    OfferMetrics,
    OffPolicy,
    PolicyEstimate,
)

router = APIRouter(prefix="/v1/metrics", tags=["metrics"])

TIMELINE_HOURS = 48
ARCHIVE_ROWS = 200_000
"""The newest archived interactions a filtered view reads (it says so when it hits the cap)."""
OFF_POLICY_ROWS = 20_000
"""The newest control-group rows the off-policy estimate re-scores."""
OFF_POLICY_TTL_S = 30.0


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


def to_ms(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


async def _off_policy(runtime: Runtime, where: InteractionFilter) -> OffPolicy | None:
    """IPS / SNIPS of the served model on archived control decisions, cached 30 s per filter.

    Per filter and catalogue, not per model version: a learning model has a new version every
    second, so a cache keyed by it never hit, and every look at the dashboard (it polls every
    4 s) scored up to 20,000 archived decisions again. The answer names the version it scored.
    An empty answer is not cached: the first control decisions show up at once.
    """
    key = ("off_policy", runtime.catalogue.version, where)
    cache = runtime.answers
    cached = cache.get(key)
    if cached is not None and time.monotonic() - cached[0] < OFF_POLICY_TTL_S:
        answer: OffPolicy = cached[1]
        return answer
    version = runtime.model.snapshot.version
    control = InteractionFilter(
        channel=where.channel,
        offer_id=None,  # the policy picks among all candidates: filtering rows would bias it
        since_ms=where.since_ms,
        until_ms=where.until_ms,
        control_only=True,
    )
    choose = runtime.decider.greedy_chooser()

    def estimate() -> OffPolicy | None:
        rows = runtime.archive.control_rows(control, limit=OFF_POLICY_ROWS)
        found = off_policy_estimate(rows, choose, model_version=version)
        if found is None:
            return None
        return OffPolicy(
            model_version=found.model_version,
            control_decisions=found.control_decisions,
            matched=found.matched,
            ips=PolicyEstimate.of(found.ips),
            snips=PolicyEstimate.of(found.snips),
        )

    result = await asyncio.to_thread(estimate)
    if result is not None:
        if len(cache) > 64:
            cache.clear()
        cache[key] = (time.monotonic(), result)
    return result


def _groups(summary: LearningSummary | InteractionSummary) -> dict[str, Any]:
    """The control group, the model's decisions, and the lift of one over the other."""
    value, low, high = summary.lift
    return {
        "control": ControlMetrics(
            decisions=summary.control_decisions,
            accepted=summary.control_accepted,
            acceptance_rate=_rate(summary.control_accepted, summary.control_decisions),
        ),
        "model": ControlMetrics(
            decisions=summary.model_decisions,
            accepted=summary.model_accepted,
            acceptance_rate=_rate(summary.model_accepted, summary.model_decisions),
        ),
        "lift": Lift(value=value, ci_low=low, ci_high=high),
    }


def _drivers(runtime: Runtime, offer_id: str) -> list[dict[str, Any]]:
    offer = next((o for o in runtime.catalogue.offers if o.offer_id == offer_id), None)
    if offer is None:
        return []
    return [
        {"feature": describe_token(t), "token": t, "weight": round(w, 4)}
        for t, w in runtime.model.snapshot.drivers(offer.example())
    ]


@router.get(
    "/learning", response_model=LearningMetrics, dependencies=[Depends(require_role("analyst"))]
)
async def learning(
    runtime: RuntimeDep,
    channel: Annotated[str | None, Query(min_length=1, max_length=64, pattern=NAME_PATTERN)] = None,
    offer_id: Annotated[str | None, Query(min_length=1, max_length=128, pattern=ID_PATTERN)] = None,
    since: Annotated[datetime | None, Query(description="decisions at or after (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="decisions before (ISO 8601)")] = None,
) -> LearningMetrics:
    filters = LearningFilters(channel=channel, offer_id=offer_id, since=since, until=until)
    where = InteractionFilter(
        channel=channel, offer_id=offer_id, since_ms=to_ms(since), until_ms=to_ms(until)
    )
    versions = await asyncio.to_thread(runtime.registry.recent, 20)
    off_policy = await _off_policy(runtime, where)
    if any(v is not None for v in (channel, offer_id, since, until)):
        return await _archived(runtime, where, filters, off_policy, versions)
    return await _live(runtime, off_policy, versions)


async def _archived(
    runtime: Runtime,
    where: InteractionFilter,
    filters: LearningFilters,
    off_policy: OffPolicy | None,
    versions: list[dict[str, Any]],
) -> LearningMetrics:
    rows = await asyncio.to_thread(
        runtime.archive.interactions, where, limit=ARCHIVE_ROWS, with_features=False
    )
    summary = summarise_interactions(rows)
    snapshot = runtime.model.snapshot
    return LearningMetrics(
        model_version=snapshot.version,
        outcomes_learned=snapshot.n_learned,
        offers=[
            OfferMetrics(
                offer_id=o.offer_id,
                impressions=o.impressions,
                accepted=o.accepted,
                declined=o.counts.declined,
                ignored=o.counts.ignored,
                acceptance_rate=o.counts.acceptance_rate,
                auc=o.auc,
                late=o.late,
                top_features=_drivers(runtime, o.offer_id),
            )
            for o in summary.offers
        ],
        **_groups(summary),
        auc=summary.auc,
        calibration=summary.calibration,
        exploration_share=summary.exploration_share,
        timeline=summary.timeline[-TIMELINE_HOURS:],
        source="archive",
        filters=filters,
        off_policy=off_policy,
        model_versions=versions,
    )


async def _live(
    runtime: Runtime, off_policy: OffPolicy | None, versions: list[dict[str, Any]]
) -> LearningMetrics:
    stats = await runtime.store.decisions.stats()
    offers = {o.offer_id: o for o in runtime.catalogue.offers}
    summary = summarise(stats, list(offers))
    snapshot = runtime.model.snapshot
    per_offer_learning: dict[str, Any] = snapshot.learning.get("offers", {})
    rows = [
        OfferMetrics(
            offer_id=o.offer_id,
            impressions=o.impressions,
            accepted=o.accepted,
            declined=o.declined,
            ignored=o.ignored,
            acceptance_rate=o.acceptance_rate,
            auc=per_offer_learning.get(o.offer_id, {}).get("auc"),
            top_features=_drivers(runtime, o.offer_id),
        )
        for o in summary.offers
    ]
    return LearningMetrics(
        model_version=snapshot.version,
        outcomes_learned=snapshot.n_learned,
        offers=rows,
        **_groups(summary),
        auc=snapshot.learning.get("auc"),
        calibration=snapshot.learning.get("calibration", []),
        exploration_share=_rate(stats.get("explored", 0), summary.model_decisions),
        timeline=_timeline(stats),
        off_policy=off_policy,
        model_versions=versions,
    )
