"""The compiled screen drops exactly the offers that asking each offer, stage by stage, drops."""

from __future__ import annotations

import random
from typing import Any

from decisioning.contact_policy import ContactPolicy, ContactState
from decisioning.eligibility import Screen
from decisioning.offers import Offer

NOW_MS = 1_770_000_000_000
NOW_ISO = "2026-02-02T02:40:00+00:00"
PRODUCTS = ["mobile", "fibre", "tv", "insurance"]


def _rule(rng: random.Random) -> dict[str, Any]:
    choice = rng.randrange(7)
    if choice == 0:
        return {"feature": "tenure_months", "op": rng.choice(["gt", "gte", "lt", "lte"]),
                "value": rng.randint(0, 40)}  # fmt: skip
    if choice == 1:
        return {"feature": "products_held", "op": rng.choice(["in", "not_in"]),
                "value": rng.sample(PRODUCTS, rng.randint(1, 2))}  # fmt: skip
    if choice == 2:
        return {"feature": "segment", "op": rng.choice(["eq", "ne"]),
                "value": rng.choice(["youth", "family"])}  # fmt: skip
    if choice == 3:
        return {"feature": "context.page", "op": "exists", "value": rng.choice([True, False])}
    if choice == 4:
        return {"feature": "value_tier", "op": "in", "value": ["most_valuable", "growth_potential"]}
    if choice == 5:
        return {"feature": "interaction", "op": "eq", "value": "visit"}
    return {"feature": "churn_risk", "op": "lt", "value": round(rng.random(), 2)}


def _offer(n: int, rng: random.Random) -> Offer:
    body: dict[str, Any] = {
        "name": f"O{n}",
        "kind": rng.choice(["offer", "offer", "service"]),
        "value": rng.uniform(0, 100),
        "attributes": {"product": rng.choice(PRODUCTS)},
        "eligibility": [_rule(rng) for _ in range(rng.randint(0, 3))],
        "not_for_holders": rng.random() < 0.3,
        "cooldown_after_decline_s": rng.choice([None, 0, 60, 86400]),
        "max_impressions": rng.choice([None, 1, 2]),
        "impression_window_s": rng.choice([None, 3600]),
        "suitable_interactions": rng.choice([[], ["complaint"]]),
    }
    if rng.random() < 0.2:
        body["start_at"] = rng.choice(["2025-01-01T00:00:00Z", "2027-01-01T00:00:00Z"])
    if rng.random() < 0.2:
        body["end_at"] = rng.choice(["2026-01-01T00:00:00Z", "2028-01-01T00:00:00Z"])
        if body.get("start_at", "") >= body["end_at"]:
            del body["start_at"]
    return Offer.from_body(f"o{n}", body)


def _context(rng: random.Random) -> dict[str, Any]:
    context: dict[str, Any] = {
        "tenure_months": rng.choice([None, rng.randint(0, 40), "12"]),
        "products_held": rng.sample(PRODUCTS, rng.randint(0, 3)),
        "segment": rng.choice(["youth", "family", None]),
        "churn_risk": rng.random(),
        "value_tier": rng.choice(["most_valuable", "below_cost"]),
        "interaction": rng.choice(["visit", "complaint"]),
    }
    if rng.random() < 0.5:
        context["context.page"] = "roaming"
    return {k: v for k, v in context.items() if v is not None}


def _state(offers: list[Offer], rng: random.Random) -> ContactState:
    record: dict[str, str] = {}
    for offer in rng.sample(offers, 5):
        record[f"imp:{offer.offer_id}"] = f"[{NOW_MS - rng.randint(0, 7_200_000)}]"
    for offer in rng.sample(offers, 3):
        record[f"declined:{offer.offer_id}"] = str(NOW_MS - rng.randint(0, 200_000))
    return ContactState.parse(record, {})


def _one_by_one(
    offers: list[Offer], context: dict[str, Any], state: ContactState, policy: ContactPolicy
) -> list[bool]:
    """The funnel's stages asked offer by offer, as the funnel did before the screen."""
    passed = []
    for offer in offers:
        passed.append(
            offer.live(NOW_ISO)
            and not offer.held_by(context)
            and offer.failing_rule(context) is None
            and policy.offer_block(offer, state, interaction=context["interaction"], now_ms=NOW_MS)
            is None
        )
    return passed


def test_screen_and_contact_policy_agree_with_each_offer_asked_alone() -> None:
    rng = random.Random(5)
    policy = ContactPolicy()
    for _ in range(40):
        offers = [_offer(n, rng) for n in range(30)]
        screen = Screen(offers, "web")
        for _ in range(25):
            context = _context(rng)
            state = _state(offers, rng)
            ok = screen.passing(context, NOW_ISO)
            for n in policy.blocked(
                screen, state, interaction=context["interaction"], now_ms=NOW_MS
            ):
                ok[n] = False
            assert ok.tolist() == _one_by_one(offers, context, state, policy)


def test_shared_rules_are_compiled_once_and_weights_follow_the_channel() -> None:
    rule = {"feature": "tenure_months", "op": "gte", "value": 12}
    offers = [
        Offer.from_body("a", {"name": "A", "value": 10, "eligibility": [rule]}),
        Offer.from_body(
            "b",
            {
                "name": "B",
                "value": 0,
                "eligibility": [dict(rule)],
                "channel_levers": {"web": 2.0},
                "lever": 3.0,
            },
        ),  # fmt: skip
    ]
    screen = Screen(offers, "web")
    assert len(screen._checks) == 1
    assert screen.weights.tolist() == [10.0, 0.01 * 6.0]
    assert screen.passing({"tenure_months": 20}, NOW_ISO).tolist() == [True, True]
    assert screen.passing({}, NOW_ISO).tolist() == [False, False]
