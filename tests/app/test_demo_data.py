"""The demo catalogue and customers are valid API bodies, varied, and reproducible.

``nbo serve --demo`` seeds them through the same paths as the public API, so a body the API
would reject here would break the first thing a new user runs.
"""

from __future__ import annotations

from collections import Counter
from statistics import mean
from typing import Any

import pytest

from app.demo import (
    DEMO_CHANNELS,
    DEMO_SEGMENT_AFFINITY,
    demo_acceptance_probability,
    demo_customers,
    demo_offers,
)
from app.schemas import CustomerBody, OfferBody
from decisioning.offers import OPS, Offer, Rule

FEATURES = {
    "monthly_revenue": float,
    "clv": float,
    "tenure_months": int,
    "products_held": list,
    "age_band": str,
    "region": str,
    "segment": str,
    "recent_complaints": int,
    "data_usage_gb": float,
    "contract_months_left": int,
    "churn_risk": float,
    "is_student": bool,
}
AGE_BANDS = {"18-24", "25-34", "35-44", "45-54", "55-64", "65+"}


@pytest.fixture(scope="module")
def offers() -> list[dict[str, Any]]:
    return demo_offers()


@pytest.fixture(scope="module")
def customers() -> list[dict[str, Any]]:
    return demo_customers()


def test_catalogue_size_kinds_and_channels(offers: list[dict[str, Any]]) -> None:
    kinds = Counter(o["kind"] for o in offers)
    assert kinds["offer"] >= 22
    assert kinds["service"] >= 6
    assert set(kinds) == {"offer", "service"}
    covered = {c for o in offers for c in o["channels"]}
    assert covered == set(DEMO_CHANNELS) == {"web", "call_center", "app", "email", "sms"}
    for channel in DEMO_CHANNELS:  # each channel has a real choice of sales offers
        assert sum(channel in o["channels"] and o["kind"] == "offer" for o in offers) >= 5


def test_offer_ids_unique(offers: list[dict[str, Any]]) -> None:
    ids = [o["offer_id"] for o in offers]
    assert len(ids) == len(set(ids))


def test_offers_are_valid_api_bodies(offers: list[dict[str, Any]]) -> None:
    for offer in offers:
        body = {k: v for k, v in offer.items() if k != "offer_id"}
        OfferBody.model_validate(body)  # raises on anything the API would reject
        Offer.from_body(offer["offer_id"], body)
        assert isinstance(offer["value"], float) and offer["value"] > 0
        assert offer["default_outcome"] == "ignored"
        assert isinstance(offer["outcome_window_s"], int) and offer["outcome_window_s"] > 0
        attributes = offer["attributes"]
        assert {"category", "product", "price_tier", "term_months"} <= set(attributes)
        assert attributes["price_tier"] in {"low", "mid", "high"}
        assert isinstance(attributes["term_months"], int)


def test_eligibility_ops_allowed_and_parseable(offers: list[dict[str, Any]]) -> None:
    allowed = {"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists"}
    assert set(OPS) == allowed
    for offer in offers:
        for index, rule in enumerate(offer["eligibility"]):
            assert set(rule) == {"feature", "op", "value"}
            assert rule["op"] in allowed
            Rule.parse(rule, index=index)


def test_services_only_at_service_moments(offers: list[dict[str, Any]]) -> None:
    services = [o for o in offers if o["kind"] == "service"]
    assert {"waive_fee", "senior_agent", "retention_discount", "callback"} <= {
        o["offer_id"] for o in services
    }
    for service in services:
        assert service["attributes"]["category"] == "service"
        assert any(
            r["feature"] == "interaction" and r["op"] == "in" and "complaint" in r["value"]
            for r in service["eligibility"]
        )


def test_categories_share_learning_and_have_affinity(offers: list[dict[str, Any]]) -> None:
    categories = Counter(o["attributes"]["category"] for o in offers if o["kind"] == "offer")
    assert len(categories) >= 6
    assert sum(n >= 2 for n in categories.values()) >= 6  # similar offers to learn across
    for segment, by_category in DEMO_SEGMENT_AFFINITY.items():
        assert set(by_category) >= set(categories) | {"service"}, segment
        assert all(0.01 <= p <= 0.4 for p in by_category.values()), segment


def test_customers_have_every_feature(customers: list[dict[str, Any]]) -> None:
    assert len(customers) >= 1000
    products = {o["attributes"]["product"] for o in demo_offers()}
    for index, customer in enumerate(customers, start=1):
        assert customer["customer_id"] == f"C{index:05d}"
        features = customer["features"]
        for name, kind in FEATURES.items():
            assert isinstance(features[name], kind), (customer["customer_id"], name)
        assert not isinstance(features["tenure_months"], bool)
        assert features["age_band"] in AGE_BANDS
        assert features["segment"] in DEMO_SEGMENT_AFFINITY
        assert 0.0 <= features["churn_risk"] <= 1.0
        assert set(features["products_held"]) <= products
        assert 0 <= features["contract_months_left"] <= 24
        assert set(customer["consent"]) == {"email", "sms", "app"}
        CustomerBody.model_validate({"features": features, "consent": customer["consent"]})


def test_customers_are_correlated(customers: list[dict[str, Any]]) -> None:
    by_segment: dict[str, list[dict[str, Any]]] = {}
    for customer in customers:
        features = customer["features"]
        by_segment.setdefault(features["segment"], []).append(features)
    assert set(by_segment) == set(DEMO_SEGMENT_AFFINITY)

    def avg(segment: str, name: str) -> float:
        return mean(float(f[name]) for f in by_segment[segment])

    def share(segment: str, product: str) -> float:
        return mean(product in f["products_held"] for f in by_segment[segment])

    assert all(f["age_band"] in {"18-24", "25-34"} for f in by_segment["youth"])
    assert all(f["age_band"] in {"55-64", "65+"} for f in by_segment["senior"])
    assert avg("youth", "data_usage_gb") > 2 * avg("senior", "data_usage_gb")
    assert share("family", "tv") > 2 * share("youth", "tv")
    assert avg("business", "monthly_revenue") > 1.5 * avg("family", "monthly_revenue")
    assert avg("senior", "tenure_months") > avg("youth", "tenure_months")
    students = [c["features"] for c in customers if c["features"]["is_student"]]
    assert students and all(f["age_band"] in {"18-24", "25-34"} for f in students)
    everyone = [c["features"] for c in customers]
    complained = [f["churn_risk"] for f in everyone if f["recent_complaints"]]
    calm = [f["churn_risk"] for f in everyone if not f["recent_complaints"]]
    assert mean(complained) > mean(calm)


def test_deterministic_for_a_seed() -> None:
    assert demo_customers(200, seed=11) == demo_customers(200, seed=11)
    assert demo_customers(200, seed=11) != demo_customers(200, seed=12)
    assert demo_customers(300, seed=11)[:200] == demo_customers(200, seed=11)
    assert demo_offers() == demo_offers()


def test_acceptance_probabilities_in_range_and_deterministic(
    offers: list[dict[str, Any]], customers: list[dict[str, Any]]
) -> None:
    seen = []
    for customer in customers[:150]:
        for offer in offers:
            for channel in offer["channels"]:
                p = demo_acceptance_probability(customer["features"], offer, channel)
                assert 0.0 <= p <= 1.0
                assert p == demo_acceptance_probability(customer["features"], offer, channel)
                seen.append(p)
    assert min(seen) < 0.01 and max(seen) > 0.2  # a spread worth learning
    assert 0.0 <= demo_acceptance_probability({}, {}, "pigeon") <= 1.0


def test_acceptance_follows_segment_affinity(offers: list[dict[str, Any]]) -> None:
    by_id = {o["offer_id"]: o for o in offers}
    youth = {"segment": "youth", "products_held": ["mobile"], "data_usage_gb": 30.0}
    senior = {"segment": "senior", "products_held": ["mobile"], "data_usage_gb": 2.0}
    family = {"segment": "family", "products_held": ["mobile"]}
    business = {"segment": "business", "products_held": ["mobile"]}
    data = by_id["data_addon_10"]
    assert demo_acceptance_probability(youth, data, "app") > 5 * demo_acceptance_probability(
        senior, data, "app"
    )
    tv = by_id["tv_family"]
    assert demo_acceptance_probability(family, tv, "web") > demo_acceptance_probability(
        business, tv, "web"
    )
    roaming = by_id["roaming_world"]
    assert demo_acceptance_probability(business, roaming, "web") > demo_acceptance_probability(
        family, roaming, "web"
    )
    # an agent persuades more than an email
    assert demo_acceptance_probability(family, tv, "call_center") > demo_acceptance_probability(
        family, tv, "email"
    )
    # nobody buys what they already hold
    holder = {**family, "products_held": ["mobile", "tv"]}
    assert demo_acceptance_probability(holder, tv, "web") < demo_acceptance_probability(
        family, tv, "web"
    )
