"""Request and response bodies of the public HTTP contract (see DESIGN.md)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetPydanticSchema,
    StrictBool,
    StrictInt,
    StrictStr,
)
from pydantic_core import CoreSchema

from models.offline import Estimate

__all__ = [
    "AckBody",
    "ClaimBody",
    "CustomerBody",
    "CustomerView",
    "DecisionBody",
    "DecisionView",
    "EventBody",
    "EventReceiptView",
    "EventsBulkBody",
    "EventsBulkView",
    "LearningMetrics",
    "OfferBody",
    "OfferView",
    "OutcomeBody",
    "OutboundListView",
    "OutboundMessageView",
    "OutcomeView",
    "RuleBody",
    "TriggerBody",
    "TriggerView",
]

ID_PATTERN = r"^[A-Za-z0-9_.:@\-]+$"
"""Customers', offers', triggers' and events' ids (path parameters use it too)."""
NAME_PATTERN = r"^[A-Za-z0-9_.\-]+$"
"""Channels, features and properties."""
Id = Annotated[str, Field(min_length=1, max_length=128, pattern=ID_PATTERN)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=NAME_PATTERN)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
MAX_AMOUNT = 1e15
Amount = Annotated[float, Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT, allow_inf_nan=False)]
"""What an offer, an outcome or an event is worth: bounded, so that sums and products of many
stay finite numbers (``1e308`` twice is no number)."""
LaxTime = Annotated[datetime, Field(strict=False)]
"""A time in a strict body: JSON has no time type, so an ISO 8601 string (or epoch seconds)."""


def one_problem(message: str) -> GetPydanticSchema:
    """A value of several possible types fails with one error at its own path, saying what it
    may be. Pydantic's default is an error per member type, each at a path ending in the type's
    name (``context.page.bool: Input should be a valid boolean`` for a string that is merely too
    long); the JSON schema is unchanged."""

    def build(source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        schema = handler(source)
        union: Any = schema
        while union.get("type") in ("nullable", "default"):
            union = union["schema"]
        union["custom_error_type"] = "value_type"
        union["custom_error_message"] = message
        return schema

    return GetPydanticSchema(build)


Int64 = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]
"""An integer Redis, Lua and orjson can hold: in a union with a float, a larger one is a float
(JSON has no integer limit; it was a 500 from every write that serialised it)."""
_TEN_YEARS_S = 10 * 366 * 86400

_SCALAR = "a string (at most 1000 characters), a finite number or a boolean"
Scalar = Annotated[
    StrictBool | Int64 | FiniteFloat | Annotated[StrictStr, Field(max_length=1000)],
    one_problem(f"Input should be {_SCALAR}"),
]
FeatureValue = Annotated[
    Scalar | Annotated[list[Scalar], Field(max_length=100)] | None,
    one_problem(f"Input should be {_SCALAR}, null, or a list of at most 100 of them"),
]


class Strict(BaseModel):
    """A request body: unknown fields are refused, and so is a value of the wrong JSON type
    (``"limit": true``, ``"active": "false"``, ``"value": "120"``): coercing it would hide the
    client's bug, or do the opposite of what was meant. An integer is fine where a number goes;
    times are ISO 8601 strings (``LaxTime``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


def _feature_path(value: str) -> str:
    if value.startswith("context.") and len(value) == len("context."):
        raise ValueError("context. needs a key: context.<key>")
    return value


class RuleBody(Strict):
    feature: Annotated[str, Field(min_length=1, max_length=140), AfterValidator(_feature_path)]
    op: Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists"]
    value: Annotated[
        Scalar | Annotated[list[Scalar], Field(max_length=1000)] | None,
        one_problem(f"Input should be {_SCALAR}, a list of at most 1000 of them, or null"),
    ] = None


class OfferBody(Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    kind: Literal["offer", "service"] = "offer"
    channels: Annotated[list[Name], Field(min_length=1, max_length=20)]
    value: Amount
    """What the offer is worth (required, as in the contract: an offer that defaulted to 0
    would never win an arbitration, without a word); with ``lever`` and a channel lever (each at
    most 1000) the priority stays a finite number."""
    lever: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)] = 1.0
    attributes: Annotated[dict[Name, Scalar], Field(max_length=50)] = {}
    eligibility: Annotated[list[RuleBody], Field(max_length=50)] = []
    max_impressions: Annotated[int, Field(ge=1, le=1_000_000_000)] | None = None
    impression_window_s: Annotated[int, Field(ge=1, le=_TEN_YEARS_S)] | None = None
    cooldown_after_decline_s: Annotated[int, Field(ge=0, le=_TEN_YEARS_S)] | None = None
    outcome_window_s: Annotated[int, Field(ge=1, le=365 * 86400)] | None = None
    default_outcome: Literal["ignored"] | None = "ignored"
    active: bool = True
    suitable_interactions: Annotated[list[Name], Field(max_length=20)] = []
    """Sensitive interactions (e.g. complaint) during which this sales offer may be shown."""
    channel_levers: Annotated[
        dict[Name, Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)]],
        Field(max_length=20),
    ] = {}
    start_at: LaxTime | None = None
    end_at: LaxTime | None = None
    not_for_holders: bool = False
    """Not for customers whose products_held include attributes.product."""


class OfferView(OfferBody):
    offer_id: str


class CustomerBody(Strict):
    features: Annotated[dict[Name, FeatureValue], Field(max_length=10_000)]
    """At most ``NBO_MAX_FEATURES`` (default 500); 10,000 is the hard ceiling of that setting."""
    consent: dict[Name, StrictBool] | None = None


class CustomerView(BaseModel):
    customer_id: str
    features: dict[str, Any]
    """GET: the features including the real-time aggregates (what a decision sees); PUT: the
    features as given."""
    consent: dict[str, bool]
    aggregates: dict[str, Any] = {}
    """Real-time aggregates from events (counts and sums per window, recency, open complaint),
    also in ``features``."""
    value_tier: str | None = None


class DecisionBody(Strict):
    customer_id: Id
    channel: Name
    interaction: Name = "inbound"
    context: Annotated[dict[Name, Scalar | None], Field(max_length=100)] = {}
    limit: Annotated[int, Field(ge=1, le=50)] = 1
    explain: bool = False


class OfferChoice(BaseModel):
    offer_id: str
    kind: str
    name: str
    propensity: float
    value: float
    priority: float
    probability: float
    explored: bool
    reasons: list[str]


class ExclusionView(BaseModel):
    offer_id: str
    stage: str
    reason: str


class DecisionView(BaseModel):
    decision_id: str
    customer_id: str
    channel: str
    interaction: str
    offers: list[OfferChoice]
    control_group: bool
    model_version: int
    known_customer: bool
    degraded: bool = False
    excluded: list[ExclusionView] | None = None


class OutcomeBody(Strict):
    offer_id: Id
    outcome: Literal["accepted", "declined", "ignored"]
    value: Amount | None = None


class OutcomeView(BaseModel):
    decision_id: str
    offer_id: str
    outcome: str
    status: Literal["recorded", "duplicate", "late"]


class OfferMetrics(BaseModel):
    offer_id: str
    impressions: int
    accepted: int
    declined: int
    ignored: int
    acceptance_rate: float | None
    auc: float | None = None
    top_features: list[dict[str, Any]] = []
    late: int | None = None
    """Responses that came after the outcome window had closed (filtered view only)."""


class ControlMetrics(BaseModel):
    decisions: int
    accepted: int
    acceptance_rate: float | None


class Lift(BaseModel):
    value: float | None
    ci_low: float | None
    ci_high: float | None


class PolicyEstimate(BaseModel):
    """An off-policy estimate and its 95% interval; null where the data cannot give one (no
    decision matched, or too few for an interval)."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int

    @classmethod
    def of(cls, estimate: Estimate) -> PolicyEstimate:
        """From :class:`models.offline.Estimate`, whose undefined figures are NaN."""

        def defined(x: float) -> float | None:
            return None if math.isnan(x) else x

        return cls(
            value=defined(estimate.value),
            ci_low=defined(estimate.ci_low),
            ci_high=defined(estimate.ci_high),
            n=estimate.n,
        )


class OffPolicy(BaseModel):
    """The served model's acceptance rate, estimated on the control group's random decisions."""

    model_version: int
    control_decisions: int
    """Control decisions with logged candidates that the estimate used (newest first, capped)."""
    matched: int
    """Of those, decisions whose shown offer is the one the served model would pick now."""
    ips: PolicyEstimate
    snips: PolicyEstimate


class LearningFilters(BaseModel):
    channel: str | None = None
    offer_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class LearningMetrics(BaseModel):
    model_version: int
    outcomes_learned: int
    offers: list[OfferMetrics]
    control: ControlMetrics
    model: ControlMetrics
    lift: Lift
    auc: float | None = None
    """Exact AUC of the served propensities over the latest 1,000 outcomes."""
    calibration: list[dict[str, Any]] = []
    """Per propensity bucket: mean predicted vs observed acceptance, and n."""
    exploration_share: float | None = None
    """Share of (non-control) decisions that showed an explored offer."""
    timeline: list[dict[str, Any]] = []
    """Per hour of decision: decisions, model and control acceptance rates."""
    source: str = "live"
    """``live``: Redis counters (every impression, resolved or not) and the learner's rolling
    AUC; ``archive``: the SQL interaction log under ``filters`` (resolved impressions only,
    exact AUC over the window)."""
    filters: LearningFilters = LearningFilters()
    off_policy: OffPolicy | None = None
    model_versions: list[dict[str, Any]] = []
    """The versions the learner published, newest first (at most 20)."""


EventType = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")]
"""Lower snake case: event types become feature names (``purchase_count_24h``)."""
EventScalar = Annotated[
    StrictBool | Int64 | FiniteFloat | Annotated[StrictStr, Field(max_length=256)],
    one_problem("Input should be a string (at most 256 characters), a finite number or a boolean"),
]


def _stream_id_in_range(value: str) -> str:
    """Both halves of a Redis stream id are unsigned 64-bit numbers (Redis refuses more)."""
    if any(int(part) >= 2**64 for part in value.split("-")):
        raise ValueError("each half of a stream id must be below 2**64")
    return value


StreamId = Annotated[
    str, Field(pattern=r"^[0-9]{1,20}-[0-9]{1,20}$"), AfterValidator(_stream_id_in_range)
]


class EventBody(Strict):
    customer_id: Id
    type: EventType
    id: Id | None = None
    """The sender's event id: the same id twice (within 31 days) counts once."""
    name: Name | None = None
    """What kind of ``type``: ``marriage`` for a ``life_event``, ``roaming`` for a page view."""
    at: LaxTime | None = None
    """When it happened (default: when received; without a zone: UTC)."""
    properties: Annotated[dict[Name, EventScalar | None], Field(max_length=30)] = {}
    """``value`` / ``amount`` (numbers) are summed, ``channel`` is remembered as last channel."""


class EventsBulkBody(Strict):
    events: Annotated[list[EventBody], Field(min_length=1, max_length=1000)]


class OutboundResultView(BaseModel):
    customer_id: str
    trigger_id: str
    channel: str
    queued: bool
    decision_id: str | None = None
    offer_id: str | None = None
    stream_id: str | None = None
    reason: str | None = None
    """Why nothing was queued (the funnel's stage and reason, or a stale event)."""


class EventReceiptView(BaseModel):
    customer_id: str
    type: str
    id: str | None
    status: Literal["recorded", "duplicate"]
    outbound: list[OutboundResultView]


class EventsBulkView(BaseModel):
    received: int
    recorded: int
    duplicates: int
    outbound: list[OutboundResultView]


class TriggerBody(Strict):
    event_type: EventType
    event_name: Name | None = None
    """Only events with this name (``marriage``); unset: any event of the type."""
    channel: Name
    """The outbound channel the decision is made for (``email``, ``sms``, ``push``...)."""
    offers: Annotated[list[Id], Field(min_length=1, max_length=100)] | None = None
    """Only these offers may be sent; unset: whatever the funnel finds for the channel."""
    active: bool = True


class TriggerView(TriggerBody):
    trigger_id: str


class OutboundMessageView(BaseModel):
    id: str
    """The stream id: what ``ack`` takes."""
    decision_id: str
    customer_id: str
    offer_id: str
    name: str
    at: str
    trigger_id: str = ""
    event_type: str = ""
    event_id: str = ""
    event_name: str = ""


class OutboundListView(BaseModel):
    channel: str
    messages: list[OutboundMessageView]


class ClaimBody(Strict):
    consumer: Name
    count: Annotated[int, Field(ge=1, le=1000)] = 10
    reclaim_idle_s: Annotated[int, Field(ge=0, le=30 * 86400)] | None = None
    """Also take over messages other consumers have held unacknowledged this long."""


class AckBody(Strict):
    ids: Annotated[list[StreamId], Field(min_length=1, max_length=1000)]
