"""Demo data for ``nbo serve --demo``: a telecom catalogue and synthetic customers.

Pure data, no I/O: offers are exactly the bodies of ``PUT /v1/offers/{id}`` (plus ``offer_id``),
customers the bodies of ``PUT /v1/customers/{id}`` (plus ``customer_id``). The customers'
features are correlated the way a real base is (students are young and use much data, families
hold TV, business customers bring revenue), so the model has something real to learn.
``demo_acceptance_probability`` is a ground truth a traffic generator can answer with.

>>> offers = demo_offers()
>>> len(offers) >= 24, sum(o["kind"] == "service" for o in offers) >= 4
(True, True)
>>> demo_customers(3, seed=1)[0]["customer_id"]
'C00001'
"""

from __future__ import annotations

import random
from typing import Any

__all__ = [
    "DEMO_SEGMENT_AFFINITY",
    "demo_acceptance_probability",
    "demo_customers",
    "demo_offers",
]

_DAY = 86400
_ALL = ["web", "call_center", "app", "email", "sms"]
_INBOUND = ["web", "call_center", "app"]


def _offer(
    offer_id: str,
    name: str,
    category: str,
    product: str,
    value: float,
    price_tier: str,
    *,
    channels: list[str] | None = None,
    term_months: int = 0,
    kind: str = "offer",
    eligibility: list[dict[str, Any]] | None = None,
    lever: float = 1.0,
    **attributes: Any,
) -> dict[str, Any]:
    return {
        "offer_id": offer_id,
        "name": name,
        "kind": kind,
        "channels": channels or _ALL,
        "value": value,
        "lever": lever,
        "attributes": {
            "category": category,
            "product": product,
            "price_tier": price_tier,
            "term_months": term_months,
            **attributes,
        },
        "eligibility": eligibility or [],
        "max_impressions": 3 if kind == "offer" else None,
        "impression_window_s": 7 * _DAY if kind == "offer" else None,
        "cooldown_after_decline_s": 7 * _DAY if kind == "offer" else None,
        "outcome_window_s": 3 * _DAY if kind == "offer" else _DAY,
        "default_outcome": "ignored",
    }


def _lacks(product: str) -> dict[str, Any]:
    return {"feature": "products_held", "op": "not_in", "value": [product]}


def _holds(product: str) -> dict[str, Any]:
    return {"feature": "products_held", "op": "in", "value": [product]}


_SERVICE_MOMENTS = {"feature": "interaction", "op": "in", "value": ["complaint", "retention_call"]}


def demo_offers() -> list[dict[str, Any]]:
    """A believable telecom catalogue: 24 sales offers and 6 service actions."""
    return [
        _offer("fibre_500", "Fibre 500 Mbit", "broadband", "fibre", 240, "mid",
               term_months=24, eligibility=[_lacks("fibre")]),
        _offer("fibre_1g", "Fibre 1 Gbit", "broadband", "fibre", 360, "high",
               term_months=24, eligibility=[_lacks("fibre")]),
        _offer("fibre_upgrade_1g", "Upgrade to 1 Gbit", "broadband", "fibre", 120, "mid",
               eligibility=[_holds("fibre")]),
        _offer("dsl_saver", "DSL Saver 50", "broadband", "dsl", 90, "low", term_months=12,
               eligibility=[_lacks("fibre"), _lacks("dsl")]),
        _offer("mobile_unlimited", "Unlimited 5G", "mobile", "mobile", 420, "high",
               term_months=24),
        _offer("mobile_20gb", "Mobile 20 GB", "mobile", "mobile", 220, "mid", term_months=24),
        _offer("mobile_sim_only", "SIM only 10 GB", "mobile", "mobile", 120, "low",
               term_months=12),
        _offer("family_lines", "Family plan: 3 lines", "mobile", "mobile", 480, "high",
               term_months=24, eligibility=[{"feature": "segment", "op": "in",
                                             "value": ["family", "value"]}]),
        _offer("youth_data_boost", "Youth data boost +30 GB", "data", "addon", 60, "low",
               channels=["web", "app", "sms"],
               eligibility=[{"feature": "age_band", "op": "in", "value": ["18-24", "25-34"]}]),
        _offer("data_addon_10", "Data add-on 10 GB", "data", "addon", 40, "low",
               channels=["web", "app", "sms", "email"]),
        _offer("roaming_eu", "EU roaming pass", "roaming", "roaming", 70, "low",
               eligibility=[_lacks("roaming")]),
        _offer("roaming_world", "World roaming pass", "roaming", "roaming", 150, "high",
               eligibility=[_lacks("roaming")]),
        _offer("tv_basic", "TV Basic 60 channels", "tv", "tv", 180, "low", term_months=12,
               eligibility=[_lacks("tv")]),
        _offer("tv_sports", "TV Sports package", "tv", "tv", 300, "high", term_months=12),
        _offer("tv_family", "TV Family & kids", "tv", "tv", 220, "mid", term_months=12),
        _offer("streaming_bundle", "Streaming bundle", "tv", "streaming", 140, "mid",
               channels=["web", "app", "email"]),
        _offer("phone_flagship", "Flagship phone on plan", "device", "device", 520, "high",
               term_months=24, eligibility=[_holds("mobile")]),
        _offer("phone_refurb", "Certified refurbished phone", "device", "device", 200, "low",
               term_months=24),
        _offer("tablet_bundle", "Tablet + data bundle", "device", "device", 260, "mid",
               term_months=24),
        _offer("smart_home", "Smart home starter kit", "device", "smarthome", 150, "mid"),
        _offer("security_suite", "Online security suite", "addon", "security", 50, "low",
               channels=["web", "app", "email"]),
        _offer("cloud_storage", "Cloud storage 1 TB", "addon", "cloud", 45, "low",
               channels=["web", "app", "email", "sms"]),
        _offer("business_pro", "Business Pro lines", "mobile", "mobile", 900, "high",
               term_months=36, channels=["web", "call_center", "email"],
               eligibility=[{"feature": "segment", "op": "eq", "value": "business"}]),
        _offer("loyalty_renewal", "Loyalty renewal with 12 months discount", "retention",
               "mobile", 380, "mid", term_months=24, channels=["call_center", "email", "sms"],
               eligibility=[{"feature": "contract_months_left", "op": "lte", "value": 3}]),
        _offer("waive_fee", "Waive the disputed fee", "service", "service", 300, "high",
               kind="service", channels=["call_center", "web", "app"],
               eligibility=[_SERVICE_MOMENTS,
                            {"feature": "value_tier", "op": "eq", "value": "most_valuable"}]),
        _offer("senior_agent", "Route to a senior agent", "service", "service", 220, "high",
               kind="service", channels=["call_center"],
               eligibility=[_SERVICE_MOMENTS, {"feature": "value_tier", "op": "in",
                                               "value": ["most_valuable", "growth_potential"]}]),
        _offer("retention_discount", "Retention discount 20% for 6 months", "service",
               "service", 180, "mid", kind="service", channels=["call_center", "web", "app"],
               eligibility=[_SERVICE_MOMENTS, {"feature": "churn_risk", "op": "gte",
                                               "value": 0.4}]),
        _offer("loyalty_credit", "Loyalty credit 10 EUR", "service", "service", 90, "mid",
               kind="service", channels=_INBOUND,
               eligibility=[_SERVICE_MOMENTS, {"feature": "tenure_months", "op": "gte",
                                               "value": 24}]),
        _offer("callback", "Specialist callback within 24 h", "service", "service", 40, "low",
               kind="service", channels=_INBOUND + ["sms"], eligibility=[_SERVICE_MOMENTS]),
        _offer("bill_explainer", "Walk through the bill", "service", "service", 20, "low",
               kind="service", channels=_INBOUND, eligibility=[_SERVICE_MOMENTS]),
    ]  # fmt: skip


_SEGMENTS = {
    # segment: (share, age bands, revenue mu, products weights)
    "youth": (0.22, ["18-24", "25-34"], 28.0),
    "family": (0.28, ["25-34", "35-44", "45-54"], 85.0),
    "business": (0.12, ["25-34", "35-44", "45-54", "55-64"], 160.0),
    "senior": (0.18, ["55-64", "65+"], 45.0),
    "value": (0.20, ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"], 32.0),
}
_REGIONS = ["capital", "north", "south", "east", "west"]
_PRODUCT_ODDS = {
    "youth": {"mobile": 0.95, "fibre": 0.15, "tv": 0.05, "roaming": 0.15, "dsl": 0.1},
    "family": {"mobile": 0.9, "fibre": 0.55, "tv": 0.6, "roaming": 0.2, "dsl": 0.25},
    "business": {"mobile": 0.98, "fibre": 0.6, "tv": 0.1, "roaming": 0.6, "dsl": 0.1},
    "senior": {"mobile": 0.7, "fibre": 0.2, "tv": 0.5, "roaming": 0.05, "dsl": 0.4},
    "value": {"mobile": 0.85, "fibre": 0.1, "tv": 0.15, "roaming": 0.05, "dsl": 0.3},
}


def demo_customers(n: int = 1000, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` synthetic customers ``C00001``...; the same for the same seed."""
    rng = random.Random(seed)
    names = list(_SEGMENTS)
    shares = [_SEGMENTS[s][0] for s in names]
    customers = []
    for i in range(1, n + 1):
        segment = rng.choices(names, shares)[0]
        _, bands, revenue_mu = _SEGMENTS[segment]
        age_band = rng.choice(bands)
        products = [p for p, odds in _PRODUCT_ODDS[segment].items() if rng.random() < odds]
        if "fibre" in products and "dsl" in products:
            products.remove("dsl")
        monthly_revenue = round(max(5.0, rng.gauss(revenue_mu, revenue_mu * 0.35)), 2)
        tenure = int(rng.expovariate(1 / (40 if segment == "senior" else 26)))
        churn = min(0.95, max(0.01, rng.betavariate(2, 6) + (0.15 if tenure < 6 else 0.0)))
        features = {
            "segment": segment,
            "age_band": age_band,
            "region": rng.choice(_REGIONS),
            "monthly_revenue": monthly_revenue,
            "clv": round(monthly_revenue * (24 + tenure / 2) * (1 - churn), 2),
            "tenure_months": tenure,
            "products_held": products,
            "recent_complaints": int(rng.random() < 0.12) + int(rng.random() < 0.04),
            "data_usage_gb": round(rng.lognormvariate(3.0 if segment == "youth" else 2.2, 0.6), 1),
            "contract_months_left": rng.randint(0, 24),
            "churn_risk": round(churn, 3),
            "is_student": segment == "youth" and rng.random() < 0.5,
        }
        customers.append(
            {
                "customer_id": f"C{i:05d}",
                "features": features,
                "consent": {
                    "email": rng.random() < 0.7,
                    "sms": rng.random() < 0.5,
                    "app": rng.random() < 0.6,
                },
            }
        )
    return customers


DEMO_SEGMENT_AFFINITY: dict[str, dict[str, float]] = {
    "youth": {"data": 0.30, "mobile": 0.12, "device": 0.10, "roaming": 0.06, "addon": 0.08,
              "tv": 0.02, "broadband": 0.04, "retention": 0.10, "service": 0.25},
    "family": {"tv": 0.18, "broadband": 0.15, "mobile": 0.10, "device": 0.06, "addon": 0.05,
               "data": 0.04, "roaming": 0.03, "retention": 0.15, "service": 0.25},
    "business": {"roaming": 0.20, "mobile": 0.16, "device": 0.10, "broadband": 0.08,
                 "addon": 0.06, "tv": 0.01, "data": 0.05, "retention": 0.18, "service": 0.30},
    "senior": {"tv": 0.10, "service": 0.35, "broadband": 0.05, "mobile": 0.04, "device": 0.02,
               "addon": 0.03, "data": 0.01, "roaming": 0.01, "retention": 0.12},
    "value": {"mobile": 0.08, "data": 0.06, "addon": 0.04, "broadband": 0.05, "tv": 0.03,
              "device": 0.03, "roaming": 0.02, "retention": 0.10, "service": 0.20},
}  # fmt: skip

_PRICE = {"low": 1.3, "mid": 1.0, "high": 0.6}
_CHANNEL = {"web": 0.8, "app": 1.0, "call_center": 1.6, "email": 0.5, "sms": 0.4}


def demo_acceptance_probability(
    customer_features: dict[str, Any], offer: dict[str, Any], channel: str
) -> float:
    """Ground truth for demo traffic: segment x category, price sensitivity, channel reach.

    High-revenue customers mind price less; agents on a call persuade more than an email.
    """
    segment = str(customer_features.get("segment", "value"))
    category = str(offer.get("attributes", {}).get("category", "addon"))
    base = DEMO_SEGMENT_AFFINITY.get(segment, DEMO_SEGMENT_AFFINITY["value"]).get(category, 0.02)
    tier = str(offer.get("attributes", {}).get("price_tier", "mid"))
    price = _PRICE.get(tier, 1.0)
    if float(customer_features.get("monthly_revenue", 0.0)) > 100 and tier == "high":
        price = 1.1
    return max(0.0, min(1.0, base * price * _CHANNEL.get(channel, 1.0)))
