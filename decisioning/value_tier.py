"""Customer value tier: most valuable, growth potential, or below cost.

Marketers write rules on ``value_tier`` and service actions depend on it (a most valuable customer
who complains gets the strongest action). The tier comes from the customer's own ``value_tier``
feature when the CRM provides one; otherwise it is derived from value (CLV, or monthly revenue),
tenure and products held, with thresholds the deployment can set.

>>> tiers = ValueTiers()
>>> tiers.of({"clv": 5200, "tenure_months": 40, "products_held": ["mobile", "tv"]})
'most_valuable'
>>> tiers.of({"monthly_revenue": 7.0, "tenure_months": 3})
'below_cost'
>>> tiers.of({"monthly_revenue": 45.0, "tenure_months": 8, "products_held": ["mobile"]})
'growth_potential'
>>> tiers.of({"value_tier": "most_valuable"})
'most_valuable'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["TIERS", "ValueTiers"]

TIERS = ("most_valuable", "growth_potential", "below_cost")


@dataclass(frozen=True, slots=True)
class ValueTiers:
    most_valuable_clv: float = 3000.0
    """CLV at or above which a customer is most valuable."""
    below_cost_clv: float = 300.0
    """CLV below which a customer costs more to serve than they bring."""
    months_for_clv: float = 36.0
    """Months of revenue that stand in for CLV when only monthly revenue is known."""

    def score(self, features: Mapping[str, Any]) -> float | None:
        """An estimate of lifetime value, boosted by tenure and product breadth (loyalty)."""
        clv = _number(features.get("clv"))
        if clv is None:
            revenue = _number(features.get("monthly_revenue"))
            if revenue is None:
                return None
            clv = revenue * self.months_for_clv
        tenure = _number(features.get("tenure_months")) or 0.0
        products = features.get("products_held")
        breadth = len(products) if isinstance(products, list) else 0
        return clv * (1.0 + min(tenure, 60.0) / 120.0) * (1.0 + 0.1 * max(breadth - 1, 0))

    def of(self, features: Mapping[str, Any]) -> str | None:
        given = features.get("value_tier")
        if isinstance(given, str) and given in TIERS:
            return given
        score = self.score(features)
        if score is None:
            return None
        if score >= self.most_valuable_clv:
            return "most_valuable"
        if score < self.below_cost_clv:
            return "below_cost"
        return "growth_potential"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
