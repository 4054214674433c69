"""The shown offer's probability under Thompson sampling, integrated (models.win_probability)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from models import EpsilonGreedyPolicy, Policy, ThompsonPolicy
from models.win_probability import top_one_probabilities


def _cases(count: int, seed: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    cases = []
    for n in range(count):
        offers = int(rng.integers(2, 60))
        mean = rng.normal(-3.0, rng.uniform(0.1, 1.5), offers)
        sd = np.sqrt(rng.uniform(0.001, 1.0, offers) ** rng.uniform(1.0, 3.0))
        weights = rng.uniform(0.5, 3.0, offers) if n % 2 else np.ones(offers)
        cases.append((mean, sd, weights))
    return cases


def _drawn(mean: np.ndarray, sd: np.ndarray, weights: np.ndarray, draws: int) -> np.ndarray:
    rng = np.random.default_rng(11)
    z = mean + sd * rng.standard_normal((draws, len(mean)))
    top = np.argmax(weights / (1.0 + np.exp(-z)), axis=1)
    counts: np.ndarray = np.bincount(top, minlength=len(mean)) / draws
    return counts


def test_every_offers_probability_sums_to_one() -> None:
    for mean, sd, weights in _cases(200, seed=1):
        probs = top_one_probabilities(mean, sd, weights, np.arange(len(mean)))
        assert ((probs >= 0) & (probs <= 1 + 1e-9)).all()
        assert probs.sum() == pytest.approx(1.0, abs=0.01)


def test_agrees_with_many_draws() -> None:
    for mean, sd, weights in _cases(12, seed=2):
        probs = top_one_probabilities(mean, sd, weights, np.arange(len(mean)))
        np.testing.assert_allclose(probs, _drawn(mean, sd, weights, 200_000), atol=0.01)


def test_weights_and_certainty() -> None:
    same = top_one_probabilities(np.zeros(2), np.ones(2), np.ones(2), [0, 1])
    np.testing.assert_allclose(same, [0.5, 0.5], atol=1e-6)
    # known logits: the best priority wins for sure, whatever the logits alone say
    mean, sd = np.array([-1.0, -2.0]), np.zeros(2)
    np.testing.assert_allclose(top_one_probabilities(mean, sd, np.ones(2), [0, 1]), [1, 0])
    np.testing.assert_allclose(
        top_one_probabilities(mean, sd, np.array([1.0, 5.0]), [0, 1]), [0, 1]
    )


def test_thompson_logs_the_integrated_probability_of_what_it_shows() -> None:
    policy = ThompsonPolicy(seed=5, control_share=0.0, floor=0.0)
    mean, var = np.array([-2.0, -1.5, -1.0]), np.array([0.8, 0.3, 0.05])
    weights = np.array([1.0, 2.0, 1.0])
    want = top_one_probabilities(mean, np.sqrt(var), weights, np.arange(3))
    shown = np.zeros(3)
    for _ in range(4000):
        pick = policy.choose(mean, var, weights).picks[0]
        assert pick.probability == pytest.approx(want[pick.index])
        shown[pick.index] += 1
    # and it shows each offer as often as it says
    np.testing.assert_allclose(shown / shown.sum(), want, atol=0.03)


@pytest.mark.parametrize(
    "make", [lambda: ThompsonPolicy(seed=2), lambda: EpsilonGreedyPolicy(seed=2)]
)
def test_a_batch_of_decisions_chooses_as_one_at_a_time(make: Callable[[], Policy]) -> None:
    """choose_batch: each row chooses among its eligible columns only, with the probability
    choose logs for the same offers, and as often as that probability says."""
    policy = make()
    rng = np.random.default_rng(3)
    mean, var = rng.normal(-2.0, 0.5, 6), rng.uniform(0.05, 0.6, 6)
    weights = rng.uniform(0.5, 2.0, 6)
    masks = np.array([[1, 1, 1, 1, 1, 1], [0, 1, 0, 1, 1, 0], [0, 0, 0, 0, 1, 0]], dtype=bool)
    rows = np.repeat(masks, 1500, axis=0)
    shape = rows.shape
    choices = policy.choose_batch(
        np.broadcast_to(mean, shape),
        np.broadcast_to(var, shape),
        np.broadcast_to(weights, shape),
        rows,
    )
    for m, mask in enumerate(masks):
        columns = np.flatnonzero(mask)
        want = policy.probabilities(mean[columns], var[columns], weights[columns])
        shown = np.zeros(len(columns))
        for choice in choices[m * 1500 : (m + 1) * 1500]:
            (pick,) = choice.picks
            assert mask[pick.index]
            k = int(np.searchsorted(columns, pick.index))
            assert pick.probability == pytest.approx(want[k], abs=1e-9)
            shown[k] += 1
        np.testing.assert_allclose(shown / shown.sum(), want, atol=0.04)
    control = np.mean([c.control_group for c in choices])
    assert 0.005 < control < 0.04  # the default 2% control group
