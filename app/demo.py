"""Demo data for ``nbo serve --demo``: a telecom catalogue, synthetic customers, a ground truth.

Pure data, no I/O and no imports from the rest of nbo, so the seeding code, the tests and a demo
traffic generator all see the same numbers. Offers are exactly the bodies of
``PUT /v1/offers/{id}`` (plus ``offer_id``), customers the bodies of ``PUT /v1/customers/{id}``
(plus ``customer_id``).

Why it looks the way it does:

- the catalogue shares ``category``, ``product`` and ``price_tier`` attributes across offers, so a
  model that learns on attributes can carry what it learnt about one fibre offer to the next;
- customers' features are correlated the way a real base is (young people and students use much
  data, families hold TV, business customers bring revenue and travel, seniors stay long), so
  there is signal to learn rather than noise;
- :func:`demo_acceptance_probability` is the hidden truth a traffic generator answers with; it is
  deterministic so a demo run can be replayed and its learning curve compared with an oracle.

>>> offers = demo_offers()
>>> len(offers) >= 22, sum(o["kind"] == "service" for o in offers) >= 6
(True, True)
>>> demo_customers(3, seed=1)[0]["customer_id"]
'C00001'
"""

from __future__ import annotations

import random
from typing import Any

__all__ = [
    "DEMO_CHANNELS",
    "DEMO_SEGMENT_AFFINITY",
    "demo_acceptance_probability",
    "demo_customers",
    "demo_offers",
]

DEMO_CHANNELS = ("web", "call_center", "app", "email", "sms")
"""Every channel the demo catalogue is offered on."""

_DAY = 86400
_ALL = list(DEMO_CHANNELS)
_INBOUND = ["web", "call_center", "app"]
_DIGITAL = ["web", "app", "email", "sms"]

_SERVICE_MOMENTS = ["complaint", "retention_call", "inbound_call"]
"""Interactions where a service action is the right answer instead of (or before) a sale."""


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
    eligibility: list[dict[str, Any]] | None = None,
    lever: float = 1.0,
    cooldown_days: int = 7,
    **attributes: str | int | float | bool,
) -> dict[str, Any]:
    """A sales offer: at most 3 impressions a week, a week's rest after a "no"."""
    return {
        "offer_id": offer_id,
        "name": name,
        "kind": "offer",
        "channels": list(channels or _ALL),
        "value": float(value),
        "lever": lever,
        "attributes": {
            "category": category,
            "product": product,
            "price_tier": price_tier,
            "term_months": term_months,
            **attributes,
        },
        "eligibility": eligibility or [],
        "max_impressions": 3,
        "impression_window_s": 7 * _DAY,
        "cooldown_after_decline_s": cooldown_days * _DAY,
        "outcome_window_s": 3 * _DAY,
        "default_outcome": "ignored",
    }


def _service(
    offer_id: str,
    name: str,
    value: float,
    price_tier: str,
    *,
    channels: list[str],
    eligibility: list[dict[str, Any]] | None = None,
    moments: list[str] | None = None,
    once_per_days: int | None = None,
    **attributes: str | int | float | bool,
) -> dict[str, Any]:
    """A service action, only at service moments; costly gestures at most once per period.

    ``value`` is what keeping the customer is worth to the company, ``price_tier`` how much the
    gesture costs (a waived fee is "high", an explanation "low").
    """
    rules = [{"feature": "interaction", "op": "in", "value": list(moments or _SERVICE_MOMENTS)}]
    return {
        "offer_id": offer_id,
        "name": name,
        "kind": "service",
        "channels": list(channels),
        "value": float(value),
        "lever": 1.0,
        "attributes": {
            "category": "service",
            "product": "service",
            "price_tier": price_tier,
            "term_months": 0,
            **attributes,
        },
        "eligibility": rules + (eligibility or []),
        "max_impressions": 1 if once_per_days else None,
        "impression_window_s": once_per_days * _DAY if once_per_days else None,
        "cooldown_after_decline_s": None,
        "outcome_window_s": _DAY,
        "default_outcome": "ignored",
    }


def _lacks(*products: str) -> dict[str, Any]:
    """Holds none of ``products`` (``not_in`` on a list-valued feature)."""
    return {"feature": "products_held", "op": "not_in", "value": list(products)}


def _holds(*products: str) -> dict[str, Any]:
    """Holds at least one of ``products`` (``in`` on a list-valued feature)."""
    return {"feature": "products_held", "op": "in", "value": list(products)}


def _rule(feature: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"feature": feature, "op": op, "value": value}


def demo_offers() -> list[dict[str, Any]]:
    """A believable telecom catalogue: 27 sales offers and 8 service actions.

    Categories: broadband, mobile, data, addon, roaming, tv, device and service; every channel
    carries several offers, and eligibility uses products held, segment, age, student status,
    contract end, churn risk, value tier, the interaction and the request context.
    """
    return [
        # broadband
        _offer("fibre_500", "Fibre 500 Mbit", "broadband", "fibre", 240, "mid",
               term_months=24, speed_mbps=500, eligibility=[_lacks("fibre")]),
        _offer("fibre_1g", "Fibre 1 Gbit", "broadband", "fibre", 360, "high",
               term_months=24, speed_mbps=1000, lever=1.2, eligibility=[_lacks("fibre")]),
        _offer("fibre_upgrade_1g", "Upgrade to 1 Gbit", "broadband", "fibre", 120, "mid",
               term_months=12, speed_mbps=1000, upgrade=True, eligibility=[_holds("fibre")]),
        _offer("dsl_saver", "DSL Saver 50", "broadband", "dsl", 90, "low",
               term_months=12, speed_mbps=50, eligibility=[_lacks("fibre", "dsl")]),
        _offer("dsl_to_fibre", "Move from DSL to fibre", "broadband", "fibre", 200, "mid",
               term_months=24, speed_mbps=500, upgrade=True,
               channels=["call_center", "email", "sms", "web"],
               eligibility=[_holds("dsl"), _lacks("fibre")]),
        # mobile
        _offer("mobile_unlimited", "Unlimited 5G", "mobile", "mobile", 420, "high",
               term_months=24, data_gb=999, network="5g"),
        _offer("mobile_20gb", "Mobile 20 GB", "mobile", "mobile", 220, "mid",
               term_months=24, data_gb=20, network="5g"),
        _offer("mobile_sim_only", "SIM only 10 GB", "mobile", "mobile", 120, "low",
               term_months=12, data_gb=10, network="4g"),
        _offer("student_sim", "Student SIM 40 GB", "mobile", "mobile", 110, "low",
               term_months=12, data_gb=40, network="5g", channels=["web", "app", "sms"],
               eligibility=[_rule("is_student", "eq", True)]),
        _offer("senior_easy", "Easy plan with priority support", "mobile", "mobile", 130, "low",
               term_months=12, data_gb=5, network="4g", channels=["call_center", "email", "sms"],
               eligibility=[_rule("age_band", "in", ["55-64", "65+"])]),
        _offer("family_lines", "Family plan: 3 lines", "mobile", "mobile", 480, "high",
               term_months=24, data_gb=60, network="5g", lines=3,
               eligibility=[_rule("segment", "in", ["family", "value"])]),
        _offer("business_pro", "Business Pro lines", "mobile", "mobile", 900, "high",
               term_months=36, data_gb=999, network="5g", lines=5, lever=1.1,
               channels=["web", "call_center", "email"],
               eligibility=[_rule("segment", "eq", "business")]),
        _offer("loyalty_renewal", "Renew with 12 months at a discount", "mobile", "mobile", 380,
               "mid", term_months=24, data_gb=30, network="5g", renewal=True,
               channels=["call_center", "email", "sms", "app"],
               eligibility=[_holds("mobile"), _rule("contract_months_left", "lte", 3)]),
        # data and add-ons
        _offer("data_addon_10", "Data add-on 10 GB", "data", "data", 40, "low",
               data_gb=10, channels=_DIGITAL, eligibility=[_holds("mobile")]),
        _offer("youth_data_boost", "Youth data boost +30 GB", "data", "data", 60, "low",
               data_gb=30, channels=["web", "app", "sms"],
               eligibility=[_holds("mobile"), _rule("age_band", "in", ["18-24", "25-34"])]),
        _offer("heavy_user_upsize", "Upsize: double your data", "data", "data", 90, "mid",
               term_months=12, data_gb=50, channels=["app", "sms", "email"],
               eligibility=[_holds("mobile"), _rule("data_usage_gb", "gte", 25)]),
        _offer("security_suite", "Online security suite", "addon", "security", 50, "low",
               channels=["web", "app", "email"], eligibility=[_lacks("security")]),
        _offer("cloud_storage", "Cloud storage 1 TB", "addon", "cloud", 45, "low",
               channels=_DIGITAL, eligibility=[_lacks("cloud")]),
        _offer("device_insurance", "Phone insurance", "addon", "insurance", 70, "mid",
               term_months=12, channels=["web", "app", "call_center", "email"],
               eligibility=[_holds("mobile"), _lacks("insurance")]),
        # roaming
        _offer("roaming_eu", "EU roaming pass", "roaming", "roaming", 70, "low",
               term_months=1, eligibility=[_lacks("roaming")]),
        _offer("roaming_world", "World roaming pass", "roaming", "roaming", 150, "high",
               term_months=1, eligibility=[_lacks("roaming")]),
        _offer("roaming_trip", "Travelling soon? 7-day world pass", "roaming", "roaming", 45,
               "low", channels=["web", "app"],
               eligibility=[_rule("context.page", "in", ["roaming", "travel"])]),
        # tv and streaming
        _offer("tv_basic", "TV Basic 60 channels", "tv", "tv", 180, "low",
               term_months=12, eligibility=[_lacks("tv")]),
        _offer("tv_sports", "TV Sports package", "tv", "tv", 300, "high",
               term_months=12, channels=["web", "app", "call_center", "email"]),
        _offer("tv_family", "TV Family & kids", "tv", "tv", 220, "mid",
               term_months=12, eligibility=[_rule("segment", "in", ["family", "value", "senior"])]),
        _offer("streaming_bundle", "Streaming bundle", "tv", "streaming", 140, "mid",
               channels=["web", "app", "email"], eligibility=[_lacks("streaming")]),
        # devices
        _offer("phone_flagship", "Flagship phone on plan", "device", "device", 520, "high",
               term_months=24, cooldown_days=30, eligibility=[_holds("mobile")]),
        _offer("phone_refurb", "Certified refurbished phone", "device", "device", 200, "low",
               term_months=24, cooldown_days=30),
        _offer("tablet_bundle", "Tablet + data bundle", "device", "device", 260, "mid",
               term_months=24, cooldown_days=30, channels=["web", "app", "call_center", "email"]),
        _offer("smart_home", "Smart home starter kit", "device", "smarthome", 150, "mid",
               channels=["web", "app", "email"], eligibility=[_lacks("smarthome")]),
        # service actions
        _service("waive_fee", "Waive the disputed fee", 300, "high", once_per_days=90,
                 channels=["call_center", "web", "app"], action="goodwill",
                 eligibility=[_rule("value_tier", "eq", "most_valuable")]),
        _service("senior_agent", "Route to a senior agent", 220, "high",
                 channels=["call_center"], action="routing",
                 eligibility=[_rule("value_tier", "in", ["most_valuable", "growth_potential"])]),
        _service("retention_discount", "Retention discount 20% for 6 months", 180, "mid",
                 once_per_days=180, channels=["call_center", "web", "app", "email"],
                 action="discount", moments=["complaint", "retention_call"],
                 eligibility=[_rule("churn_risk", "gte", 0.4)]),
        _service("loyalty_credit", "Loyalty credit 10 EUR", 90, "mid", once_per_days=180,
                 channels=_INBOUND + ["email"], action="goodwill",
                 eligibility=[_rule("tenure_months", "gte", 24)]),
        _service("callback", "Specialist callback within 24 h", 40, "low",
                 channels=_INBOUND + ["sms"], action="routing"),
        _service("bill_explainer", "Walk through the bill", 20, "low",
                 channels=_INBOUND + ["email"], action="explain"),
        _service("tech_visit", "Free technician visit", 110, "mid", once_per_days=30,
                 channels=["call_center", "web", "app", "sms"], action="repair",
                 moments=["complaint", "inbound_call"], eligibility=[_holds("fibre", "dsl", "tv")]),
        _service("plan_review", "Review the plan against real usage", 60, "low",
                 channels=_ALL, action="advice",
                 eligibility=[_rule("data_usage_gb", "exists")]),
    ]  # fmt: skip


_SEGMENT_SHARE = {"youth": 0.20, "family": 0.28, "business": 0.12, "senior": 0.18, "value": 0.22}
_AGE_BANDS = {
    "youth": {"18-24": 0.6, "25-34": 0.4},
    "family": {"25-34": 0.3, "35-44": 0.45, "45-54": 0.25},
    "business": {"25-34": 0.2, "35-44": 0.35, "45-54": 0.3, "55-64": 0.15},
    "senior": {"55-64": 0.4, "65+": 0.6},
    "value": {"18-24": 0.1, "25-34": 0.2, "35-44": 0.2, "45-54": 0.2, "55-64": 0.15, "65+": 0.15},
}
_REGIONS = {"capital": 0.3, "north": 0.2, "south": 0.2, "east": 0.15, "west": 0.15}
_PRODUCT_ODDS = {
    # segment: product -> probability of holding it
    "youth": {"mobile": 0.95, "fibre": 0.15, "dsl": 0.05, "tv": 0.05, "roaming": 0.15,
              "streaming": 0.45, "cloud": 0.2, "security": 0.05, "insurance": 0.15,
              "smarthome": 0.02},
    "family": {"mobile": 0.92, "fibre": 0.5, "dsl": 0.25, "tv": 0.65, "roaming": 0.2,
               "streaming": 0.35, "cloud": 0.15, "security": 0.2, "insurance": 0.3,
               "smarthome": 0.15},
    "business": {"mobile": 0.98, "fibre": 0.6, "dsl": 0.1, "tv": 0.1, "roaming": 0.6,
                 "streaming": 0.1, "cloud": 0.45, "security": 0.4, "insurance": 0.35,
                 "smarthome": 0.05},
    "senior": {"mobile": 0.7, "fibre": 0.15, "dsl": 0.45, "tv": 0.55, "roaming": 0.05,
               "streaming": 0.05, "cloud": 0.02, "security": 0.15, "insurance": 0.1,
               "smarthome": 0.03},
    "value": {"mobile": 0.85, "fibre": 0.1, "dsl": 0.3, "tv": 0.15, "roaming": 0.05,
              "streaming": 0.1, "cloud": 0.05, "security": 0.05, "insurance": 0.05,
              "smarthome": 0.02},
}  # fmt: skip
_PRODUCT_REVENUE = {
    "mobile": 25.0, "fibre": 38.0, "dsl": 24.0, "tv": 22.0, "roaming": 9.0, "streaming": 11.0,
    "cloud": 4.0, "security": 5.0, "insurance": 8.0, "smarthome": 6.0,
}  # fmt: skip
_REVENUE_FACTOR = {"youth": 0.8, "family": 1.2, "business": 2.4, "senior": 0.9, "value": 0.75}
"""Business lines come in bundles; value customers are on the cheapest tariffs."""
_DATA_GB = {"youth": 3.1, "family": 2.5, "business": 2.7, "senior": 1.2, "value": 2.0}
"""Log-mean of monthly data usage: youth stream on the go, seniors mostly call."""
_TENURE_MONTHS = {"youth": 14.0, "family": 40.0, "business": 36.0, "senior": 70.0, "value": 22.0}


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


def _customer(rng: random.Random, index: int) -> dict[str, Any]:
    segment = _pick(rng, _SEGMENT_SHARE)
    age_band = _pick(rng, _AGE_BANDS[segment])
    products = [p for p, odds in _PRODUCT_ODDS[segment].items() if rng.random() < odds]
    if "fibre" in products and "dsl" in products:
        products.remove("dsl")
    if not products:
        products = ["mobile"]
    tenure = min(240, int(rng.expovariate(1 / _TENURE_MONTHS[segment])))
    # out of contract for a quarter of the base, else somewhere in a 24-month term
    contract_left = 0 if rng.random() < 0.25 else rng.randint(1, 24)
    complaints = int(rng.random() < 0.14) + int(rng.random() < 0.05) + int(rng.random() < 0.02)
    churn = rng.betavariate(2, 8)
    churn += 0.12 * complaints
    churn += 0.12 if contract_left == 0 else 0.0
    churn += 0.10 if tenure < 6 else 0.0
    churn -= 0.02 * min(len(products) - 1, 4)  # bundles bind
    churn = round(min(0.97, max(0.01, churn)), 3)
    base = sum(_PRODUCT_REVENUE[p] for p in products) * _REVENUE_FACTOR[segment]
    revenue = round(max(5.0, rng.gauss(base, base * 0.2)), 2)
    expected_months = 12.0 + 48.0 * (1.0 - churn)
    data_gb = rng.lognormvariate(_DATA_GB[segment], 0.6) if "mobile" in products else 0.0
    student_odds = {"18-24": 0.6, "25-34": 0.15}.get(age_band, 0.0)
    features: dict[str, Any] = {
        "segment": segment,
        "age_band": age_band,
        "region": _pick(rng, _REGIONS),
        "monthly_revenue": revenue,
        "clv": round(revenue * expected_months * 0.6, 2),  # 60 % margin
        "tenure_months": tenure,
        "products_held": products,
        "recent_complaints": complaints,
        "data_usage_gb": round(min(data_gb, 400.0), 1),
        "contract_months_left": contract_left,
        "churn_risk": churn,
        "is_student": segment in ("youth", "value") and rng.random() < student_odds,
    }
    digital = 0.9 if age_band in ("18-24", "25-34", "35-44") else 0.45
    return {
        "customer_id": f"C{index:05d}",
        "features": features,
        "consent": {
            "email": rng.random() < 0.7,
            "sms": rng.random() < 0.5,
            "app": rng.random() < digital * 0.75,
        },
    }


def demo_customers(n: int = 1000, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` synthetic customers ``C00001``...; the same list for the same seed.

    Each gets its own features drawn in a fixed order from one ``random.Random(seed)``, so the
    first customers do not change when ``n`` grows.

    >>> a, b = demo_customers(50, seed=3), demo_customers(80, seed=3)
    >>> a == b[:50]
    True
    """
    rng = random.Random(seed)
    return [_customer(rng, i) for i in range(1, n + 1)]


DEMO_SEGMENT_AFFINITY: dict[str, dict[str, float]] = {
    "youth": {"data": 0.28, "addon": 0.14, "device": 0.18, "mobile": 0.12, "roaming": 0.06,
              "broadband": 0.04, "tv": 0.02, "service": 0.20},
    "family": {"tv": 0.22, "broadband": 0.18, "mobile": 0.10, "device": 0.07, "addon": 0.08,
               "data": 0.05, "roaming": 0.04, "service": 0.25},
    "business": {"roaming": 0.26, "mobile": 0.18, "device": 0.12, "broadband": 0.10,
                 "addon": 0.09, "data": 0.07, "tv": 0.01, "service": 0.28},
    "senior": {"service": 0.38, "tv": 0.12, "mobile": 0.05, "broadband": 0.05, "addon": 0.04,
               "device": 0.02, "data": 0.01, "roaming": 0.01},
    "value": {"mobile": 0.08, "data": 0.07, "broadband": 0.05, "addon": 0.03, "tv": 0.04,
              "device": 0.03, "roaming": 0.02, "service": 0.22},
}  # fmt: skip
"""Segment -> offer category -> base acceptance probability (the demo's hidden truth)."""

_PRICE_FACTOR = {
    # segment: price tier -> factor; business barely minds price, value customers mind it most
    "youth": {"low": 1.4, "mid": 1.0, "high": 0.55},
    "family": {"low": 1.2, "mid": 1.0, "high": 0.75},
    "business": {"low": 0.9, "mid": 1.0, "high": 1.25},
    "senior": {"low": 1.5, "mid": 0.9, "high": 0.4},
    "value": {"low": 1.6, "mid": 0.8, "high": 0.35},
}
_CHANNEL_FACTOR = {"call_center": 1.5, "app": 1.1, "web": 0.9, "email": 0.45, "sms": 0.4}
"""An agent on a call persuades more than a web banner; push messages are easily ignored."""
_SEGMENT_CHANNEL = {
    "youth": {"app": 1.3, "sms": 1.2, "call_center": 0.7, "email": 0.6},
    "senior": {"app": 0.5, "web": 0.7, "call_center": 1.3, "email": 1.2},
    "business": {"email": 1.3, "sms": 0.8},
}
_MAX_PROBABILITY = 0.6


def _number(value: Any, default: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


def demo_acceptance_probability(
    customer_features: dict[str, Any], offer: dict[str, Any], channel: str
) -> float:
    """Ground truth for demo traffic: how likely this customer accepts this offer on this channel.

    The product of:

    - ``DEMO_SEGMENT_AFFINITY[segment][category]`` (unknown segments act like "value");
    - price sensitivity by segment and ``price_tier`` (seniors and value customers want "low",
      business customers read "high" as quality); not for service actions, whose tier is what
      the gesture costs the company;
    - channel reach, adjusted by segment (youth answer in the app, seniors on the phone);
    - fit: already holding the offer's product (and it is no upgrade) x0.15; data offers scale
      with usage (x0.6 to x1.4); renewals and retention discounts rise with churn risk, other
      service actions with recent complaints; students like low-tier mobile and data x1.25;

    then capped at 0.6. Deterministic: the same inputs give the same probability.

    >>> offer = {"kind": "offer", "attributes": {"category": "tv", "price_tier": "mid"}}
    >>> family = {"segment": "family", "products_held": ["mobile"]}
    >>> demo_acceptance_probability(family, offer, "call_center")
    0.33
    >>> demo_acceptance_probability({"segment": "youth"}, offer, "email") < 0.01
    True
    """
    segment = str(customer_features.get("segment", "value"))
    if segment not in DEMO_SEGMENT_AFFINITY:
        segment = "value"
    attributes = offer.get("attributes") or {}
    category = str(attributes.get("category", "addon"))
    tier = str(attributes.get("price_tier", "mid"))
    p = DEMO_SEGMENT_AFFINITY[segment].get(category, 0.02)
    if offer.get("kind") != "service":  # a service's tier is its cost to us, not a price
        p *= _PRICE_FACTOR[segment].get(tier, 1.0)
    p *= _CHANNEL_FACTOR.get(channel, 0.8) * _SEGMENT_CHANNEL.get(segment, {}).get(channel, 1.0)

    held = customer_features.get("products_held")
    held = held if isinstance(held, list) else []
    product = attributes.get("product")
    upgrade = bool(attributes.get("upgrade")) or bool(attributes.get("renewal"))
    if offer.get("kind") != "service" and product in held and not upgrade:
        p *= 0.15
    if category == "data":
        usage = _number(customer_features.get("data_usage_gb"))
        p *= 0.6 + min(usage, 40.0) / 50.0
    churn = min(max(_number(customer_features.get("churn_risk"), 0.2), 0.0), 1.0)
    complaints = min(_number(customer_features.get("recent_complaints")), 3.0)
    if attributes.get("renewal") or attributes.get("action") == "discount":
        p *= 0.5 + 2.0 * churn
    elif offer.get("kind") == "service":
        p *= 0.8 + 0.4 * complaints
    student = customer_features.get("is_student") is True
    if student and tier == "low" and category in ("mobile", "data"):
        p *= 1.25
    return round(min(_MAX_PROBABILITY, max(0.0, p)), 6)
