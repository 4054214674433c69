"""The hybrid model's own part and its forgetting: what they are for, checked on small worlds."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from models import BanditModel, Snapshot

OFFERS = [{"id": "o1", "category": "tv"}, {"id": "o2", "category": "tv"}]


def _score(model: BanditModel, segment: str) -> tuple[Any, Any]:
    snapshot = model.export()
    return snapshot.score({"segment": segment}, snapshot.encode_offers(OFFERS))


def test_an_offers_own_preference_is_learned_apart_from_its_shared_attributes() -> None:
    """Two offers with the same attributes, each liked by another segment: only ids tell them."""
    rng = random.Random(3)
    model = BanditModel()
    for _ in range(3000):
        segment = rng.choice("AB")
        offer = rng.choice(OFFERS)
        liked = (segment == "A") == (offer["id"] == "o1")
        model.learn_pair({"segment": segment}, offer, rng.random() < (0.3 if liked else 0.03))
    mean_a, _ = _score(model, "A")
    mean_b, _ = _score(model, "B")
    assert mean_a[0] > mean_a[1] + 1.0
    assert mean_b[1] > mean_b[0] + 1.0


@pytest.mark.parametrize(("half_life", "grows"), [(500.0, True), (None, False)])
def test_old_evidence_is_forgotten_only_with_a_half_life(
    half_life: float | None, grows: bool
) -> None:
    model = BanditModel(half_life=half_life)
    for n in range(500):
        model.learn_pair({"segment": "A"}, OFFERS[0], n % 10 == 0)
    _, before = _score(model, "A")
    for n in range(2000):  # only the other offer is shown now
        model.learn_pair({"segment": "A"}, OFFERS[1], n % 10 == 0)
    _, after = _score(model, "A")
    assert bool(after[0] > 1.5 * before[0]) == grows
    assert grows or after[0] <= before[0]


def test_the_snapshot_scores_the_own_part_like_the_model_and_round_trips() -> None:
    rng = random.Random(5)
    model = BanditModel()
    for _ in range(400):
        model.learn_pair({"segment": rng.choice("ABC")}, rng.choice(OFFERS), rng.random() < 0.2)
    snapshot = model.export(version=2)
    offers = snapshot.encode_offers([*OFFERS, {"id": "new", "category": "tv"}])
    assert sorted(offers.own[:2].tolist()) == [0, 1] and offers.own[2] == -1
    mean, var = snapshot.score({"segment": "B"}, offers)
    for n, offer in enumerate([*OFFERS, {"id": "new", "category": "tv"}]):
        x = {"segment": "B"} | {f"offer.{k}": v for k, v in offer.items()}
        expected = model.predict_proba_one(x)
        assert Snapshot.calibrated(mean, var)[n] == pytest.approx(expected, rel=1e-9)
    assert var[2] > var[0]  # the offer never learned is the least known
    loaded = Snapshot.from_bytes(snapshot.to_bytes())
    mean2, var2 = loaded.score({"segment": "B"}, loaded.encode_offers(OFFERS))
    assert np.allclose(mean2, mean[:2], atol=1e-4) and np.allclose(var2, var[:2], rtol=1e-4)
    assert loaded.drivers(OFFERS[0])  # the own weights count among the drivers
