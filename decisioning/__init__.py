"""The decision funnel as plain Python: catalogue, eligibility, arbitration, explanations,
event aggregates as features, and outbound triggers.

Nothing here knows about HTTP; ``app/`` maps :mod:`decisioning.errors` to status codes.
"""

from __future__ import annotations

from .aggregates import aggregate_features
from .catalogue import Catalogue, SqlCatalogue
from .database import make_engine, migrate, normalise_url
from .errors import (
    CatalogueFull,
    Conflict,
    CustomerNotFound,
    DecisionError,
    DecisionNotFound,
    InvalidInput,
    ModelVersionNotFound,
    NotFound,
    OfferInUse,
    OfferNotFound,
    OfferNotInDecision,
    OutcomeConflict,
    TriggerNotFound,
    Unavailable,
)
from .funnel import (
    Decider,
    DecisionRequest,
    DecisionResult,
    Exclusion,
    OutcomeReceipt,
    RankedOffer,
    decision_context,
)
from .model_holder import ModelHolder
from .moments import EventReceipt, Moments, OutboundResult, date_events
from .offers import OPS, Offer, Rule
from .triggers import SqlTriggers, Trigger, TriggerBook

__all__ = [
    "OPS",
    "Catalogue",
    "CatalogueFull",
    "Conflict",
    "CustomerNotFound",
    "Decider",
    "DecisionError",
    "DecisionNotFound",
    "ModelVersionNotFound",
    "DecisionRequest",
    "DecisionResult",
    "EventReceipt",
    "Exclusion",
    "InvalidInput",
    "ModelHolder",
    "Moments",
    "NotFound",
    "Offer",
    "OfferInUse",
    "OfferNotFound",
    "OfferNotInDecision",
    "OutcomeConflict",
    "OutboundResult",
    "OutcomeReceipt",
    "RankedOffer",
    "Rule",
    "SqlCatalogue",
    "SqlTriggers",
    "Trigger",
    "TriggerBook",
    "TriggerNotFound",
    "Unavailable",
    "aggregate_features",
    "date_events",
    "decision_context",
    "make_engine",
    "migrate",
    "normalise_url",
]
