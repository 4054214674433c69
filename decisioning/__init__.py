"""The decision funnel as plain Python: catalogue, eligibility, arbitration, explanations.

Nothing here knows about HTTP; ``app/`` maps :mod:`decisioning.errors` to status codes.
"""

from __future__ import annotations

from .catalogue import Catalogue, SqlCatalogue
from .database import make_engine, migrate, normalise_url
from .errors import (
    Conflict,
    CustomerNotFound,
    DecisionError,
    DecisionNotFound,
    InvalidInput,
    NotFound,
    OfferNotFound,
    OfferNotInDecision,
    OutcomeConflict,
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
from .offers import OPS, Offer, Rule

__all__ = [
    "OPS",
    "Catalogue",
    "Conflict",
    "CustomerNotFound",
    "Decider",
    "DecisionError",
    "DecisionNotFound",
    "DecisionRequest",
    "DecisionResult",
    "Exclusion",
    "InvalidInput",
    "ModelHolder",
    "NotFound",
    "Offer",
    "OfferNotFound",
    "OfferNotInDecision",
    "OutcomeConflict",
    "OutcomeReceipt",
    "RankedOffer",
    "Rule",
    "SqlCatalogue",
    "Unavailable",
    "decision_context",
    "make_engine",
    "migrate",
    "normalise_url",
]
