"""One decision, start to finish: features, candidates, eligibility, scoring, arbitration, log.

Every candidate that is not shown is accounted for (stage and reason), so ``explain`` can say why.
An unknown customer is not an error: anonymous visitors are decided from the request's context.
If Redis cannot be read, the decision is still answered from the context alone, flagged degraded.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from feature_store import (
    ContactReservation,
    CustomerFeatures,
    DecisionEntry,
    DecisionLog,
    ShownOffer,
    StoreError,
)
from models import Choice, OfferMatrix, Pick, Policy, Snapshot

from .aggregates import aggregate_features
from .batching import ArbitrationBatch
from .catalogue import Catalogue
from .contact_policy import ContactPolicy, ContactState
from .eligibility import Screen, describe
from .errors import (
    DecisionNotFound,
    OfferNotInDecision,
    OutcomeConflict,
    Unavailable,
)
from .model_holder import ModelHolder
from .offers import Offer
from .value_tier import ValueTiers

FloatArray = npt.NDArray[np.float64]

SERVICE_TIER_WEIGHT = {"most_valuable": 1.5, "growth_potential": 1.0, "below_cost": 0.6}
"""Context weight of service actions during a complaint, by the customer's value tier."""


def _dates(offer: Offer) -> str:
    return f"not live now (start {offer.start_at or 'open'}, end {offer.end_at or 'open'})"


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
    public: bool = False
    """The caller may sit in a public page (a web key): the answer's reasons say nothing about
    the customer (their value tier, whether nbo knows them), since anyone can ask about anyone."""


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


class Breaker:
    """Fail fast while Redis is down: after a failure, skip it for ``cool_off_s``, then probe.

    Without it, every decision during an outage would wait for a connection timeout; with it,
    decisions answer from the safe fallback at once and the store is retried once per second.
    """

    def __init__(self, cool_off_s: float = 1.0) -> None:
        self.cool_off_s = cool_off_s
        self._open_until = 0.0

    def open(self) -> bool:
        return time.monotonic() < self._open_until

    def failed(self) -> None:
        self._open_until = time.monotonic() + self.cool_off_s

    def succeeded(self) -> None:
        self._open_until = 0.0


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
        contacts: ContactPolicy | None = None,
    ) -> None:
        self.tiers = tiers or ValueTiers()
        self._contacts = contacts
        self.breaker = Breaker()
        self.customers = customers
        self.log = log
        self.catalogue = catalogue
        self.model = model
        self.policy = policy
        self._screens: dict[str, Screen] = {}
        self._rows: dict[str, tuple[OfferMatrix, Screen, OfferMatrix]] = {}
        self.batch = ArbitrationBatch()

    @property
    def contacts(self) -> ContactPolicy:
        """The contact policy in force: a fixed one if given, else the catalogue's (editable)."""
        return self._contacts or self.catalogue.contact_policy

    async def decide(self, request: DecisionRequest) -> DecisionResult:
        now = datetime.now(UTC)
        now_ms = int(now.timestamp() * 1000)
        degraded = self.breaker.open()
        features: dict[str, Any] = {}
        state = ContactState()
        known = False
        if not degraded:
            try:
                record = await self.customers.get(request.customer_id)
                if record is not None:
                    # real-time aggregates (events) are features at once, and win over a
                    # profile field of the same name: they are the fresher of the two
                    features = {**record.features, **aggregate_features(record.aggregates, now_ms)}
                    known = record.known
                    state = ContactState.parse(record.contacts, record.consent)
                self.breaker.succeeded()
            except StoreError:
                self.breaker.failed()
                degraded = True

        context = decision_context(features, request, now, self.tiers)
        excluded: list[Exclusion] = []
        screen = self._screen(request.channel)
        candidates = screen.offers
        blocked = self.contacts.channel_block(request.channel, state, features, now)
        if blocked is None and degraded and request.channel in self.contacts.outbound_channels:
            blocked = ("consent", "consent and contact limits cannot be checked: store unreachable")
        chosen: npt.NDArray[np.intp] = np.empty(0, dtype=np.intp)
        if blocked is not None:
            excluded = [Exclusion(o.offer_id, blocked[0], blocked[1]) for o in candidates]
        elif candidates:
            now_iso = now.isoformat()
            ok = screen.passing(context, now_iso)
            for n in self.contacts.blocked(
                screen, state, interaction=request.interaction, now_ms=now_ms
            ):
                ok[n] = False
            chosen = np.flatnonzero(ok)
            if request.explain:
                excluded = [
                    self._why_not(offer, context, state, request, now_iso, now_ms)
                    for offer, passed in zip(candidates, ok.tolist(), strict=True)
                    if not passed
                ]
        eligible = [candidates[n] for n in chosen.tolist()]

        snapshot: Snapshot = self.model.snapshot
        # the screen's offers encoded now, with the screen (no await between the two): a
        # catalogue installed while this decision waits on Redis cannot mismatch them
        encoded = (
            self._screen_matrix(*self.model.offer_matrix(snapshot, self.catalogue), screen)
            if eligible
            else None
        )
        decision_id = secrets.token_hex(16)  # 32 hex digits, as uuid4().hex, without the UUID
        ranked: list[RankedOffer] = []
        control = False
        for _attempt in range(3):
            ranked, offers_shown, control = await self._arbitrate(
                request, context, snapshot, screen, encoded, chosen, eligible, known
            )
            if degraded:
                break
            refused = await self._log(
                decision_id,
                request,
                context,
                now,
                snapshot,
                ranked,
                offers_shown,
                control,
                eligible,
            )
            if refused is None:
                break
            if refused == "":
                self.breaker.failed()
                degraded = True  # the decision stands, unlogged: outcomes for it cannot be joined
                break
            if refused.startswith("outbound:"):
                reason = "outbound limit reached by a concurrent decision"
                excluded += [Exclusion(o.offer_id, "outbound_limit", reason) for o in eligible]
                eligible, ranked = [], []
                break
            excluded.append(Exclusion(refused, "cap", "cap reached by a concurrent decision"))
            keep = [n for n, o in enumerate(eligible) if o.offer_id != refused]
            eligible, chosen = [eligible[n] for n in keep], chosen[keep]
        else:
            ranked, eligible = (
                [],
                [],
            )  # contention beyond reason: answer nothing rather than overshoot

        if request.explain:
            shown = {r.offer_id for r in ranked}
            excluded += [
                Exclusion(o.offer_id, "arbitration", "ranked below the shown offers")
                for o in eligible
                if o.offer_id not in shown
            ]
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

    def prepare(self) -> None:
        """Encode the catalogue against the served snapshot now, for every channel decided on.

        The runtime calls it after each refresh, so that the first decision after a model
        hot-load or a catalogue change does not pay for encoding every offer (cached per
        snapshot and catalogue version: a no-op when nothing changed).
        """
        if not self.catalogue.offers:
            return
        matrix, row_of = self.model.offer_matrix(self.model.snapshot, self.catalogue)
        for channel in list(self._screens):
            self._screen_matrix(matrix, row_of, self._screen(channel))

    def _screen(self, channel: str) -> Screen:
        """The channel's candidates, compiled once per catalogue version (see ``Screen``)."""
        offers = self.catalogue.for_channel(channel)
        screen = self._screens.get(channel)
        if screen is None or (screen.offers is not offers and screen.offers != tuple(offers)):
            screen = Screen(offers, channel)
            self._screens[channel] = screen
        return screen

    def _why_not(
        self,
        offer: Offer,
        context: Mapping[str, Any],
        state: ContactState,
        request: DecisionRequest,
        now_iso: str,
        now_ms: int,
    ) -> Exclusion:
        """Why a candidate that did not pass was dropped: the first stage that drops it."""
        if not offer.live(now_iso):
            return Exclusion(offer.offer_id, "eligibility", _dates(offer))
        if offer.held_by(context):
            reason = f"already holds {offer.attributes.get('product')}"
            return Exclusion(offer.offer_id, "eligibility", reason)
        rule = offer.failing_rule(context)
        if rule is not None:
            return Exclusion(offer.offer_id, "eligibility", describe(rule, context))
        block = self.contacts.offer_block(
            offer, state, interaction=request.interaction, now_ms=now_ms
        )
        if block is None:  # pragma: no cover - Screen and ContactPolicy.blocked say otherwise
            raise AssertionError(f"{offer.offer_id} passes every stage but was dropped")
        return Exclusion(offer.offer_id, block[0], block[1])

    def _context_weights(
        self,
        screen: Screen,
        chosen: npt.NDArray[np.intp],
        context: Mapping[str, Any],
        interaction: str,
    ) -> npt.NDArray[np.float64]:
        """Service actions during a sensitive interaction weigh by the customer's value tier."""
        if interaction not in self.contacts.sensitive_interactions:
            return np.ones(len(chosen))
        tier = SERVICE_TIER_WEIGHT.get(str(context.get("value_tier")), 1.0)
        return np.where(screen.service[chosen], tier, 1.0)

    def _screen_matrix(
        self, matrix: OfferMatrix, row_of: Mapping[str, int], screen: Screen
    ) -> OfferMatrix:
        """The screen's offers encoded, in the screen's order (cached per snapshot and screen)."""
        cached = self._rows.get(screen.channel)
        if cached is None or cached[0] is not matrix or cached[1] is not screen:
            rows = np.array([row_of[o.offer_id] for o in screen.offers], dtype=np.intp)
            cached = self._rows[screen.channel] = (matrix, screen, matrix.take(rows))
        return cached[2]

    def _weights(
        self, offers: Sequence[Offer], context: Mapping[str, Any], channel: str, interaction: str
    ) -> tuple[list[float], list[float], FloatArray]:
        """Each offer's lever, context weight, and value x lever x context weight (offer by
        offer: for the off-line chooser; decisions use the screen's arrays, the same numbers)."""
        levers = [o.lever_for(channel) for o in offers]
        sensitive = interaction in self.contacts.sensitive_interactions
        tier = SERVICE_TIER_WEIGHT.get(str(context.get("value_tier")), 1.0)
        weights_c = [tier if sensitive and o.kind == "service" else 1.0 for o in offers]
        weights = np.array(
            [
                max(o.value, 0.01) * lever * c
                for o, lever, c in zip(offers, levers, weights_c, strict=True)
            ]
        )
        return levers, weights_c, weights

    def greedy_chooser(self) -> Callable[[Mapping[str, Any], Sequence[str]], str | None]:
        """What the served model would show first now, without exploration, among candidates.

        For off-line evaluation of the current policy on logged control-group decisions (whose
        candidates were logged): the priority :meth:`_arbitrate` exploits, over the catalogue
        as it is now (a candidate no longer in it cannot be chosen). The returned function
        holds its own encoded catalogue, so it may run in a worker thread.
        """
        snapshot = self.model.snapshot
        offers = {o.offer_id: o for o in self.catalogue.offers}
        ordered = list(offers.values())
        matrix = snapshot.encode_offers([o.example() for o in ordered])
        row_of = {o.offer_id: n for n, o in enumerate(ordered)}

        def choose(context: Mapping[str, Any], candidates: Sequence[str]) -> str | None:
            present = [offers[c] for c in candidates if c in offers]
            if not present:
                return None
            mean, var = snapshot.score(context, matrix.take([row_of[o.offer_id] for o in present]))
            channel, interaction = str(context.get("channel")), str(context.get("interaction"))
            _, _, weights = self._weights(present, context, channel, interaction)
            priority = Snapshot.calibrated(mean, var) * weights
            best = min(range(len(present)), key=lambda n: (-priority[n], present[n].offer_id))
            return present[best].offer_id

        return choose

    async def _arbitrate(
        self,
        request: DecisionRequest,
        context: Mapping[str, Any],
        snapshot: Snapshot,
        screen: Screen,
        offers: OfferMatrix | None,
        chosen: npt.NDArray[np.intp],
        eligible: list[Offer],
        known: bool,
    ) -> tuple[list[RankedOffer], list[Offer], bool]:
        """Score the eligible offers and let the policy choose (ties break by offer id): the
        ranked offers, the catalogue's offers they are (for the log), and whether the choice
        was the control group's.

        ``offers`` is ``screen`` encoded against ``snapshot``; ``chosen`` are the eligible
        offers' positions in ``screen``: weights and encoded offers are taken from
        per-catalogue arrays with them, not rebuilt offer by offer.
        """
        if not eligible or offers is None:
            return [], [], False
        # no experiments on a customer who is complaining: the best expected action, always
        explore = request.interaction not in self.contacts.sensitive_interactions
        weights_c = self._context_weights(screen, chosen, context, request.interaction)
        if explore and request.limit == 1:
            # the common case, scored with the decisions in flight (see decisioning.batching);
            # exploring, the context weights are all 1
            eligible_mask = np.zeros(len(offers), dtype=np.bool_)
            eligible_mask[chosen] = True
            scored = await self.batch.choose(
                self.policy, snapshot, offers, context, eligible_mask, screen.weights
            )
            mean, var = scored.mean[chosen], scored.var[chosen]
            # the picks are columns of the screen: as positions among the eligible
            at = np.searchsorted(chosen, [p.index for p in scored.choice.picks])
            choice = Choice(
                [
                    Pick(int(n), p.probability, p.explored)
                    for n, p in zip(at.tolist(), scored.choice.picks, strict=True)
                ],
                scored.choice.control_group,
            )
        else:
            if 2 * len(chosen) >= len(offers):
                # most offers are eligible: score them all, keep the eligible (no sub-matrix copy)
                mean, var = snapshot.score(context, offers)
                draw_var = offers.exploring(var)[chosen]
                mean, var = mean[chosen], var[chosen]
            else:
                taken = offers.take(chosen)
                mean, var = snapshot.score(context, taken)
                draw_var = taken.exploring(var)
            weights = screen.weights[chosen] * weights_c
            # a newcomer's novelty widens the draws; ranked without exploring, it would damp
            choice = self.policy.choose(
                mean, draw_var if explore else var, weights, limit=request.limit, explore=explore
            )
        picked = [pick.index for pick in choice.picks]
        propensity = Snapshot.calibrated(mean[picked], var[picked]).tolist()
        novelties = (
            offers.novelty[chosen[picked]].tolist() if len(offers.novelty) else [0.0] * len(picked)
        )
        ranked: list[RankedOffer] = []
        offers_shown = [eligible[n] for n in picked]
        shown = zip(choice.picks, propensity, offers_shown, novelties, strict=True)
        for pick, p, offer, novelty in shown:
            lever, c = offer.lever_for(request.channel), float(weights_c[pick.index])
            reasons = [
                f"P={p:.4f} (model v{snapshot.version})",
                f"V={offer.value:g}",
                f"L={lever:g}",
                f"C={c:g}",
            ]
            if "value_tier" in context and not request.public:
                reasons.append(f"customer value tier: {context['value_tier']}")
            if choice.control_group:
                reasons.append("control group: chosen uniformly at random")
            elif pick.explored:
                reasons.append("explored: chosen to learn, not the current best guess")
            if explore and not choice.control_group and novelty >= 0.01:
                reasons.append(
                    f"new offer: drawn with extra variance {novelty:.2f} while the model learns it"
                )
            if not known and not request.public:
                reasons.append("unknown customer: decided from the request context only")
            ranked.append(
                RankedOffer(
                    offer_id=offer.offer_id,
                    kind=offer.kind,
                    name=offer.name,
                    propensity=p,
                    value=offer.value,
                    priority=p * offer.value * lever * c,
                    probability=pick.probability,
                    explored=pick.explored,
                    reasons=reasons,
                )
            )
        return ranked, offers_shown, choice.control_group

    async def _log(
        self,
        decision_id: str,
        request: DecisionRequest,
        context: dict[str, Any],
        now: datetime,
        snapshot: Snapshot,
        ranked: list[RankedOffer],
        offers_shown: list[Offer],
        control: bool,
        eligible: list[Offer],
    ) -> str | None:
        """Log the decision and reserve its contacts; the refusing limit, "" if Redis failed.

        ``offers_shown`` are the catalogue's offers of ``ranked``, in its order."""
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
                    attributes=offer.example(),
                    probability=r.probability,
                    explored=r.explored,
                    window_s=offer.outcome_window_s,
                    default_outcome=offer.default_outcome,
                    propensity=r.propensity,
                )
                for r, offer in zip(ranked, offers_shown, strict=True)
            ],
            # the uniform draw's candidates make control decisions an unbiased off-line test
            # bed for any policy (decisioning.off_policy)
            candidates=[o.offer_id for o in eligible] if control else None,
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
        caps = [
            (
                offer.offer_id,
                offer.max_impressions or 0,
                (offer.impression_window_s or 10 * 365 * 86400) * 1000,
            )
            for offer in offers_shown
            if offer.max_impressions
        ]
        # a decision that shows nothing contacts nobody: it must not use up the week's contact
        outbound = self.contacts.outbound_reservation(request.channel) if ranked else None
        reservation = ContactReservation(caps=caps, outbound=outbound)
        try:
            return await self.log.record(entry, history=history, contacts=reservation)
        except StoreError:
            return ""

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
                await self.customers.append_history(
                    result.customer_id,
                    entry,
                    declined=offer_id
                    if result.status == "recorded" and outcome == "declined"
                    else None,
                )
            except StoreError:
                pass  # the outcome itself is safely recorded; only the history line is lost
        return OutcomeReceipt(decision_id, offer_id, outcome, result.status)
