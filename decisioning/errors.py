"""Domain errors of the decision service; only ``app/errors.py`` maps them to HTTP.

::

    DecisionError
    ├── NotFound
    │   ├── OfferNotFound
    │   ├── CustomerNotFound
    │   ├── DecisionNotFound
    │   └── TriggerNotFound
    ├── InvalidInput(field, problem)
    │   └── OfferNotInDecision
    ├── Conflict
    │   ├── OutcomeConflict
    │   ├── CatalogueFull
    │   └── OfferInUse
    └── Unavailable           (a store we need is down; retry later)
"""

from __future__ import annotations

__all__ = [
    "CatalogueFull",
    "Conflict",
    "CustomerNotFound",
    "DecisionError",
    "DecisionNotFound",
    "ModelVersionNotFound",
    "InvalidInput",
    "NotFound",
    "OfferInUse",
    "OfferNotFound",
    "OfferNotInDecision",
    "OutcomeConflict",
    "TriggerNotFound",
    "Unavailable",
]


class DecisionError(Exception):
    """Base of every error the decision service raises on purpose."""

    field: str | None = None


class NotFound(DecisionError):
    pass


class OfferNotFound(NotFound):
    def __init__(self, offer_id: str) -> None:
        super().__init__(f"offer {offer_id!r} does not exist")
        self.field = "offer_id"


class CustomerNotFound(NotFound):
    def __init__(self, customer_id: str) -> None:
        super().__init__(f"customer {customer_id!r} does not exist")
        self.field = "customer_id"


class DecisionNotFound(NotFound):
    def __init__(self, decision_id: str) -> None:
        super().__init__(f"decision {decision_id!r} does not exist (or is older than its log TTL)")
        self.field = "decision_id"


class ModelVersionNotFound(NotFound):
    def __init__(self, version: int) -> None:
        super().__init__(f"model version {version} does not exist (or its snapshot has expired)")
        self.field = "version"


class TriggerNotFound(NotFound):
    def __init__(self, trigger_id: str) -> None:
        super().__init__(f"trigger {trigger_id!r} does not exist")
        self.field = "trigger_id"


class InvalidInput(DecisionError):
    """The request is well-formed JSON but says something we cannot accept."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class OfferNotInDecision(InvalidInput):
    def __init__(self, offer_id: str, decision_id: str) -> None:
        super().__init__(
            "offer_id", f"offer {offer_id!r} was not shown in decision {decision_id!r}"
        )


class Conflict(DecisionError):
    pass


class OutcomeConflict(Conflict):
    def __init__(self, offer_id: str, previous: str) -> None:
        super().__init__(
            f"an outcome {previous!r} was already recorded for offer {offer_id!r} in this decision"
        )
        self.field = "outcome"
        self.previous = previous


class CatalogueFull(Conflict):
    def __init__(self, offer_id: str, limit: int) -> None:
        super().__init__(
            f"cannot add offer {offer_id!r}: the catalogue already holds its limit of {limit} "
            "offers (NBO_MAX_OFFERS); delete or reuse one"
        )
        self.field = "offer_id"


class OfferInUse(Conflict):
    def __init__(self, offer_id: str, triggers: list[str]) -> None:
        named = ", ".join(repr(t) for t in triggers)
        super().__init__(
            f"offer {offer_id!r} is named by trigger(s) {named}: take it out of them first "
            "(a trigger left naming an offer that is gone could not be saved again)"
        )
        self.field = "offer_id"


class Unavailable(DecisionError):
    """A backing store is unreachable; the caller may retry."""
