"""Decisions choose with the newcomers' novelty and the sampling scale (decisioning.batching),
and log the probability of the draw they made: the model's variance times the scale, plus the
novelty, not the model's variance alone."""

from __future__ import annotations

import asyncio

import numpy as np
import numpy.typing as npt

from decisioning.batching import ArbitrationBatch
from models import BanditModel, OfferMatrix, Snapshot, ThompsonPolicy
from models.win_probability import top_one_probabilities

OFFERS = [
    {"offer.id": "o1", "offer.category": "tv"},
    {"offer.id": "o2", "offer.category": "tv"},
    {"offer.id": "new", "offer.category": "tv"},
]
CONTEXT = {"segment": "A"}
FloatArray = npt.NDArray[np.float64]


def _batch_picks(snapshot: Snapshot, offers: OfferMatrix, seed: int) -> list[tuple[int, float]]:
    """Eight decisions for one context, arbitrated as one batch: each pick and its probability."""
    n = len(offers)
    policy = ThompsonPolicy(control_share=0.0, floor=0.0, seed=seed)
    batch = ArbitrationBatch()
    eligible, weights = np.ones(n, dtype=np.bool_), np.ones(n)

    async def decide() -> list[tuple[int, float]]:
        scored = await asyncio.gather(
            *(batch.choose(policy, snapshot, offers, CONTEXT, eligible, weights) for _ in range(8))
        )
        return [(s.choice.picks[0].index, s.choice.picks[0].probability) for s in scored]

    return asyncio.run(decide())


def _assert_drawn_with(
    picks: list[tuple[int, float]], mean: FloatArray, drawn: FloatArray, other: FloatArray
) -> None:
    """Each logged probability is that of the draw from ``drawn`` variances, not ``other``."""
    weights, indices = np.ones(len(mean)), np.arange(len(mean))
    expected = top_one_probabilities(mean, np.sqrt(drawn), weights, indices)
    wrong = top_one_probabilities(mean, np.sqrt(other), weights, indices)
    for index, probability in picks:
        assert abs(probability - expected[index]) < 1e-6
        assert abs(probability - wrong[index]) > 1e-3


def test_a_batch_draws_and_logs_with_the_newcomers_novelty() -> None:
    model = BanditModel(novelty_variance=2.0, novelty_outcomes=1000.0, sampling_scale=1.0)
    for k in range(3000):
        offer = {"id": "o1" if k % 2 else "o2", "category": "tv"}
        model.learn_pair(CONTEXT, offer, k % 15 == 0)
    snapshot = model.export(version=1)
    offers = snapshot.encode_offers(OFFERS)
    assert offers.novelty[2] > 1.0 and offers.novelty[:2].max() < 1e-3
    mean, var = snapshot.score(CONTEXT, offers)
    _assert_drawn_with(_batch_picks(snapshot, offers, seed=5), mean, var + offers.novelty, var)


def test_a_batch_draws_and_logs_with_the_scaled_variance() -> None:
    model = BanditModel(sampling_scale=0.5, novelty_variance=0.0)
    for k in range(100):  # o1 accepted one time in five, o2 one in eight: close, uncertain
        model.learn_pair(CONTEXT, {"id": "o1", "category": "tv"}, k % 5 == 0)
        model.learn_pair(CONTEXT, {"id": "o2", "category": "tv"}, k % 8 == 0)
    snapshot = model.export(version=1)
    offers = snapshot.encode_offers(OFFERS[:2])
    mean, var = snapshot.score(CONTEXT, offers)
    _assert_drawn_with(_batch_picks(snapshot, offers, seed=3), mean, 0.5 * var, var)
