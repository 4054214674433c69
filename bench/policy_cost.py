"""Cost of the decision funnel's stages, in µs per decision, with 200 offers in the catalogue.

In-process and without Redis (the I/O is measured by bench/load.py): a customer with 30 features
and a contact record (impressions, declines), 200 offers with 2-4 eligibility rules each, caps and
cool-downs, and a trained model snapshot. Each stage is timed over many decisions:

    python bench/policy_cost.py [--offers 200] [--decisions 3000]

Stages: context (features, value tier), eligibility (rules and dates), contact policy (consent,
suitability, cool-down, caps), scoring (one vectorised pass over the eligible offers),
arbitration (Thompson sampling with 64 draws, control group, floor).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime

import numpy as np

from decisioning.contact_policy import ContactPolicy, ContactState
from decisioning.funnel import DecisionRequest, decision_context
from decisioning.offers import Offer
from decisioning.value_tier import ValueTiers
from models import BanditModel, ThompsonPolicy

CATEGORIES = ["mobile", "broadband", "tv", "device", "data", "roaming", "addon", "service"]


def make_offers(n: int, rng: random.Random) -> list[Offer]:
    offers = []
    for i in range(n):
        rules = [
            {"feature": "products_held", "op": "not_in", "value": [rng.choice(CATEGORIES)]},
            {"feature": "tenure_months", "op": "gte", "value": rng.randint(0, 12)},
        ]
        if i % 2:
            rules.append({"feature": "age_band", "op": "in", "value": ["25-34", "35-44", "45-54"]})
        if i % 3 == 0:
            rules.append({"feature": "churn_risk", "op": "lt", "value": 0.9})
        offers.append(
            Offer.from_body(
                f"o{i:03d}",
                {
                    "name": f"Offer {i}", "kind": "service" if i % 20 == 0 else "offer",
                    "channels": ["web", "call_center"], "value": rng.uniform(10, 500),
                    "attributes": {"category": CATEGORIES[i % 8], "price_tier":
                                   ["low", "mid", "high"][i % 3], "term_months": 12 * (i % 3)},
                    "eligibility": rules, "max_impressions": 3, "impression_window_s": 604800,
                    "cooldown_after_decline_s": 604800,
                },
            )
        )  # fmt: skip
    return offers


def customer(rng: random.Random) -> dict[str, object]:
    features: dict[str, object] = {
        "segment": rng.choice(["youth", "family", "business", "senior", "value"]),
        "age_band": rng.choice(["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]),
        "region": rng.choice(["north", "south", "east", "west"]),
        "products_held": rng.sample(CATEGORIES, 2),
        "tenure_months": rng.randint(0, 100),
        "monthly_revenue": round(rng.uniform(5, 200), 2),
        "churn_risk": rng.random(),
    }
    for n in range(23):
        features[f"f{n}"] = rng.choice([f"v{rng.randint(0, 5)}", rng.uniform(0, 100)])
    return features


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--offers", type=int, default=200)
    parser.add_argument("--decisions", type=int, default=3000)
    args = parser.parse_args()
    rng = random.Random(1)
    offers = make_offers(args.offers, rng)
    model = BanditModel()
    for _ in range(5000):
        x = (
            customer(rng)
            | {"channel": "web", "interaction": "visit"}
            | rng.choice(offers).example()
        )
        model.learn_one(x, rng.random() < 0.1)
    snapshot = model.export(version=1)
    matrix = snapshot.encode_offers([o.example() for o in offers])
    row_of = {o.offer_id: n for n, o in enumerate(offers)}
    policy = ThompsonPolicy(seed=1)
    contacts = ContactPolicy()
    tiers = ValueTiers()
    now = datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    now_iso = now.isoformat()
    people = [customer(rng) for _ in range(200)]
    states = []
    for _ in people:
        shown = rng.sample(offers, 10)
        record = {f"imp:{o.offer_id}": f"[{now_ms - 1000}, {now_ms - 2000}]" for o in shown}
        record |= {f"declined:{o.offer_id}": str(now_ms - 5000) for o in rng.sample(offers, 3)}
        states.append(ContactState.parse(record, {"email": True}))

    timings: dict[str, list[float]] = {k: [] for k in
                                       ("context", "eligibility", "contact policy", "scoring",
                                        "arbitration")}  # fmt: skip
    eligible_counts = []
    for n in range(args.decisions):
        features, state = people[n % len(people)], states[n % len(states)]
        request = DecisionRequest("C1", "web", "visit")
        t0 = time.perf_counter()
        context = decision_context(features, request, now, tiers)
        t1 = time.perf_counter()
        ok = [o for o in offers if o.live(now_iso) and o.failing_rule(context) is None]
        t2 = time.perf_counter()
        blocked = contacts.channel_block("web", state, features, now)
        if blocked is None:
            ok = [o for o in ok if contacts.offer_block(o, state, interaction="visit",
                                                        now_ms=now_ms) is None]  # fmt: skip
        t3 = time.perf_counter()
        sub = matrix.take([row_of[o.offer_id] for o in ok])
        mean, var = snapshot.score(context, sub)
        t4 = time.perf_counter()
        weights = np.array([o.value * o.lever for o in ok])
        policy.choose(mean, var, weights, limit=1)
        t5 = time.perf_counter()
        for key, dt in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            timings[key].append(dt * 1e6)
        eligible_counts.append(len(ok))

    eligible = statistics.median(eligible_counts)
    print(f"# {args.offers} offers, {args.decisions} decisions, 30 customer features; "
          f"eligible after rules and contact policy: median {eligible:.0f}")  # fmt: skip
    total = 0.0
    for stage, values in timings.items():
        p50 = statistics.median(values)
        p99 = float(np.percentile(values, 99))
        total += p50
        print(f"{stage:15s} p50 {p50:8.1f} µs   p99 {p99:8.1f} µs")
    print(f"{'all stages':15s} p50 {total:8.1f} µs (sum of medians)")


if __name__ == "__main__":
    main()
