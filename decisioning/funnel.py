"""One decision, start to finish: features, candidates, eligibility, scoring, arbitration, log.

Every candidate that is not shown is accounted for (stage and reason), so ``explain`` can say why.
An unknown customer is not an error: anonymous visitors are decided from the request's context.
If Redis cannot be read, the decision is still answered from the context alone, flagged degraded.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from feature_store import (
    CustomerFeatures,
    DecisionEntry,
    DecisionLog,
    ShownOffer,
    StoreError,
)
from models import Policy, Snapshot

from .catalogue import Catalogue
from .eligibility import describe, failing_rule
from .errors import (
    DecisionNotFound,
    OfferNotInDecision,
    OutcomeConflict,
    Unavailable,
)
from .model_holder import ModelHolder
from .offers import Offer
from .value_tier import ValueTiers

__all__ = [
    "DecisionRequest",
    "DecisionResult",
    "Decider",
    "Exclusion",
    "OutcomeReceipt",
    "RankedOffer",
    "decision_context",
]


@dataclass(frozen=True, slots=True)
class DecisionRequest:
    customer_id: str
    channel: str
    interaction: str
    context: Mapping[str, Any] = field(default_factory=dict)
    limit: int = 1
    explain: bool = False


@dataclass(frozen=True, slots=True)
class RankedOffer:
    offer_id: str
    kind: str
    name: str
    propensity: float
    value: float
    priority: float
    probability: float
    explored: bool
    reasons: list[str]


@dataclass(frozen=True, slots=True)
class Exclusion:
    offer_id: str
    stage: str
    reason: str


@dataclass(frozen=True, slots=True)
class DecisionResult:
    decision_id: str
    customer_id: str
    channel: str
    interaction: str
    offers: list[RankedOffer]
    control_group: bool
    model_version: int
    known_customer: bool
    degraded: bool
    excluded: list[Exclusion] | None


@dataclass(frozen=True, slots=True)
class OutcomeReceipt:
    decision_id: str
    offer_id: str
    outcome: str
    status: str
    """recorded | duplicate | late"""


def _daypart(hour: int) -> str:
    if 6 <= hour < 12:
        return "morning"
    if 12 <= hour < 18:
        return "afternoon"
    if 18 <= hour < 23:
        return "evening"
    return "night"


def decision_context(
    features: Mapping[str, Any],
    request: DecisionRequest,
    now: datetime,
    tiers: ValueTiers | None = None,
) -> dict[str, Any]:
    """The flat context rules and the model read: features, channel, interaction, time, context.

    >>> req = DecisionRequest("C1", "web", "visit", {"page": "roaming"})
    >>> ctx = decision_context({"segment": "youth"}, req, datetime(2026, 1, 5, 14, tzinfo=UTC))
    >>> ctx["channel"], ctx["daypart"], ctx["context.page"]
    ('web', 'afternoon', 'roaming')
    """
    context = dict(features)
    tier = (tiers or ValueTiers()).of(features)
    if tier is not None:
        context["value_tier"] = tier
    context["channel"] = request.channel
    context["interaction"] = request.interaction
    context["daypart"] = _daypart(now.hour)
    for key, value in request.context.items():
        context[f"context.{key}"] = value
    return context


class Decider:
    """Runs the funnel; holds no per-request state, so one instance serves all requests."""

    def __init__(
        self,
        *,
        customers: CustomerFeatures,
        log: DecisionLog,
        catalogue: Catalogue,
        model: ModelHolder,
        policy: Policy,
        tiers: ValueTiers | None = None,
    ) -> None:
        self.tiers = tiers or ValueTiers()
        self.customers = customers
        self.log = log
        self.catalogue = catalogue
        self.model = model
        self.policy = policy

    async def decide(self, request: DecisionRequest) -> DecisionResult:
        now = datetime.now(UTC)
        degraded = False
        features: dict[str, Any] = {}
        known = False
        try:
            record = await self.customers.get(request.customer_id)
            if record is not None:
                features, known = record.features, True
        except StoreError:
            degraded = True

        context = decision_context(features, request, now, self.tiers)
        excluded: list[Exclusion] = []
        eligible: list[Offer] = []
        for offer in self.catalogue.for_channel(request.channel):
            rule = failing_rule(offer.eligibility, context)
            if rule is not None:
                excluded.append(Exclusion(offer.offer_id, "eligibility", describe(rule, context)))
            else:
                eligible.append(offer)

        snapshot: Snapshot = self.model.snapshot
        ranked: list[RankedOffer] = []
        control = False
        if eligible:
            matrix, row_of = self.model.offer_matrix(snapshot, self.catalogue)
            sub = matrix.take([row_of[o.offer_id] for o in eligible])
            mean, var = snapshot.score(context, sub)
            propensity = Snapshot.calibrated(mean, var)
            weights = np.array([max(o.value, 0.01) * o.lever for o in eligible])
            choice = self.policy.choose(mean, var, weights, limit=request.limit)
            control = choice.control_group
            shown_ids = set()
            for pick in choice.picks:
                offer = eligible[pick.index]
                shown_ids.add(offer.offer_id)
                p = float(propensity[pick.index])
                reasons = [
                    f"P={p:.4f} (model v{snapshot.version})",
                    f"V={offer.value:g}",
                    f"L={offer.lever:g}",
                ]
                if control:
                    reasons.append("control group: chosen uniformly at random")
                elif pick.explored:
                    reasons.append("explored: chosen to learn, not the current best guess")
                if "value_tier" in context:
                    reasons.append(f"customer value tier: {context['value_tier']}")
                if not known:
                    reasons.append("unknown customer: decided from the request context only")
                ranked.append(
                    RankedOffer(
                        offer_id=offer.offer_id,
                        kind=offer.kind,
                        name=offer.name,
                        propensity=p,
                        value=offer.value,
                        priority=p * offer.value * offer.lever,
                        probability=pick.probability,
                        explored=pick.explored,
                        reasons=reasons,
                    )
                )
            if request.explain:
                for offer in eligible:
                    if offer.offer_id not in shown_ids:
                        excluded.append(
                            Exclusion(
                                offer.offer_id, "arbitration", "ranked below the shown offers"
                            )
                        )

        decision_id = uuid.uuid4().hex
        if not degraded:
            degraded = not await self._log(
                decision_id, request, context, now, snapshot, ranked, control, eligible
            )
        return DecisionResult(
            decision_id=decision_id,
            customer_id=request.customer_id,
            channel=request.channel,
            interaction=request.interaction,
            offers=ranked,
            control_group=control,
            model_version=snapshot.version,
            known_customer=known,
            degraded=degraded,
            excluded=excluded if request.explain else None,
        )

    async def _log(
        self,
        decision_id: str,
        request: DecisionRequest,
        context: dict[str, Any],
        now: datetime,
        snapshot: Snapshot,
        ranked: list[RankedOffer],
        control: bool,
        eligible: list[Offer],
    ) -> bool:
        by_id = {o.offer_id: o for o in eligible}
        at_ms = int(now.timestamp() * 1000)
        entry = DecisionEntry(
            decision_id=decision_id,
            customer_id=request.customer_id,
            channel=request.channel,
            interaction=request.interaction,
            at_ms=at_ms,
            model_version=snapshot.version,
            control_group=control,
            context=context,
            shown=[
                ShownOffer(
                    offer_id=r.offer_id,
                    attributes=by_id[r.offer_id].example(),
                    probability=r.probability,
                    explored=r.explored,
                    window_s=by_id[r.offer_id].outcome_window_s,
                    default_outcome=by_id[r.offer_id].default_outcome,
                )
                for r in ranked
            ],
        )
        history = {
            "type": "decision",
            "at": now.isoformat(),
            "decision_id": decision_id,
            "channel": request.channel,
            "interaction": request.interaction,
            "offers": [r.offer_id for r in ranked],
            "control_group": control,
        }
        try:
            await self.log.record(entry, history=history)
        except StoreError:
            return False
        return True

    async def record_outcome(
        self, decision_id: str, offer_id: str, outcome: str, value: float | None = None
    ) -> OutcomeReceipt:
        """Join the outcome with its decision and stream it for learning, exactly once."""
        now_ms = int(time.time() * 1000)
        try:
            result = await self.log.record_outcome(
                decision_id, offer_id, outcome, now_ms=now_ms, value=value
            )
        except StoreError as exc:
            raise Unavailable(f"the decision log is unreachable: {exc}") from exc
        if result.status == "unknown_decision":
            raise DecisionNotFound(decision_id)
        if result.status == "not_shown":
            raise OfferNotInDecision(offer_id, decision_id)
        if result.status == "conflict":
            raise OutcomeConflict(offer_id, result.previous or "?")
        if result.status in ("recorded", "late") and result.customer_id:
            entry = {
                "type": "outcome",
                "at": datetime.now(UTC).isoformat(),
                "decision_id": decision_id,
                "offer_id": offer_id,
                "outcome": outcome,
                "late": result.status == "late",
            }
            try:
                await self.customers.append_history(result.customer_id, entry)
            except StoreError:
                pass  # the outcome itself is safely recorded; only the history line is lost
        return OutcomeReceipt(decision_id, offer_id, outcome, result.status)
