"""Decisions choose with the newcomers' novelty (decisioning.batching), and log the probability
of the draw they made: the model's variance plus the novelty, not the model's alone."""

from __future__ import annotations

import asyncio

import numpy as np

from decisioning.batching import ArbitrationBatch
from models import BanditModel, ThompsonPolicy
from models.win_probability import top_one_probabilities

OFFERS = [
    {"offer.id": "o1", "offer.category": "tv"},
    {"offer.id": "o2", "offer.category": "tv"},
    {"offer.id": "new", "offer.category": "tv"},
]


def test_a_batch_draws_and_logs_with_the_newcomers_novelty() -> None:
    model = BanditModel(novelty_variance=2.0, novelty_outcomes=1000.0, sampling_scale=1.0)
    for k in range(3000):
        offer = {"id": "o1" if k % 2 else "o2", "category": "tv"}
        model.learn_pair({"segment": "A"}, offer, k % 15 == 0)
    snapshot = model.export(version=1)
    offers = snapshot.encode_offers(OFFERS)
    assert offers.novelty[2] > 1.0 and offers.novelty[:2].max() < 1e-3
    context = {"segment": "A"}
    mean, var = snapshot.score(context, offers)
    eligible = np.ones(3, dtype=np.bool_)
    weights = np.ones(3)
    policy = ThompsonPolicy(control_share=0.0, floor=0.0, seed=5)
    batch = ArbitrationBatch()

    async def decide() -> list[tuple[int, float]]:
        scored = await asyncio.gather(
            *(batch.choose(policy, snapshot, offers, context, eligible, weights) for _ in range(8))
        )
        return [(s.choice.picks[0].index, s.choice.picks[0].probability) for s in scored]

    picks = asyncio.run(decide())
    indices = np.arange(3)
    with_novelty = top_one_probabilities(mean, np.sqrt(var + offers.novelty), weights, indices)
    without = top_one_probabilities(mean, np.sqrt(var), weights, indices)
    for index, probability in picks:
        assert abs(probability - with_novelty[index]) < 1e-6
        assert abs(probability - without[index]) > 1e-3


def test_a_batch_draws_and_logs_with_the_scaled_variance() -> None:
    model = BanditModel(sampling_scale=0.5, novelty_variance=0.0)
    for k in range(100):  # o1 accepted one time in five, o2 one in eight: close, uncertain
        model.learn_pair({"segment": "A"}, {"id": "o1", "category": "tv"}, k % 5 == 0)
        model.learn_pair({"segment": "A"}, {"id": "o2", "category": "tv"}, k % 8 == 0)
    snapshot = model.export(version=1)
    offers = snapshot.encode_offers(OFFERS[:2])
    context = {"segment": "A"}
    mean, var = snapshot.score(context, offers)
    eligible = np.ones(2, dtype=np.bool_)
    weights = np.ones(2)
    policy = ThompsonPolicy(control_share=0.0, floor=0.0, seed=3)
    batch = ArbitrationBatch()

    async def decide() -> list[tuple[int, float]]:
        scored = await asyncio.gather(
            *(batch.choose(policy, snapshot, offers, context, eligible, weights) for _ in range(8))
        )
        return [(s.choice.picks[0].index, s.choice.picks[0].probability) for s in scored]

    indices = np.arange(2)
    scaled = top_one_probabilities(mean, np.sqrt(0.5 * var), weights, indices)
    unscaled = top_one_probabilities(mean, np.sqrt(var), weights, indices)
    for index, probability in asyncio.run(decide()):
        assert abs(probability - scaled[index]) < 1e-6
        assert abs(probability - unscaled[index]) > 1e-3
