"""One generic test for every learner and policy, river-style: the API is uniform because of it."""

from __future__ import annotations

import copy
import pickle
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from models import (
    BanditModel,
    EpsilonGreedyPolicy,
    Policy,
    RiverCrossModel,
    Snapshot,
    ThompsonPolicy,
)

LEARNERS: list[Callable[[], Any]] = [
    BanditModel,
    lambda: BanditModel(learning_rate=0.1),
    lambda: BanditModel(own_dims=0, half_life=None),  # the shared part alone
    lambda: BanditModel(own_dims=4, half_life=50),  # own part full, forgetting at work
    RiverCrossModel,
]
POLICIES: list[Callable[[], Policy]] = [
    lambda: ThompsonPolicy(seed=1),
    lambda: EpsilonGreedyPolicy(seed=1),
]


def _examples(n: int, seed: int = 0) -> list[tuple[dict[str, Any], bool]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        x = {
            "segment": rng.choice("ABC"),
            "tenure_months": rng.randint(0, 120),
            "products_held": rng.sample(["mobile", "tv", "fibre"], 2),
            "is_student": rng.random() < 0.2,
            "offer.id": f"o{rng.randint(0, 9)}",
            "offer.category": rng.choice(["tv", "data"]),
        }
        out.append((x, rng.random() < 0.2))
    return out


@pytest.mark.parametrize("make", LEARNERS)
def test_learner_contract(make: Callable[[], Any]) -> None:
    model = make()
    assert model.__doc__
    x, _ = _examples(1)[0]
    frozen = copy.deepcopy(x)
    p = model.predict_proba_one(x)  # works before any learning
    assert 0 < p < 1
    assert x == frozen  # inference does not mutate its input
    for ex, y in _examples(300):
        model.learn_one(ex, y)
    before = copy.deepcopy(x)
    model.predict_proba_one(x)
    assert x == before

    # pickling round-trips to the same predictions
    clone = pickle.loads(pickle.dumps(model))
    assert clone.predict_proba_one(x) == pytest.approx(model.predict_proba_one(x))

    # clones are fresh and independent
    fresh = model.clone()
    assert fresh.n_learned == 0
    fresh.learn_one(x, True)
    assert model.predict_proba_one(x) == pytest.approx(clone.predict_proba_one(x))

    # the exported snapshot scores like the model (mean) and round-trips through bytes
    snapshot = model.export(version=3)
    context = {k: v for k, v in x.items() if not k.startswith("offer.")}
    offers = snapshot.encode_offers([{k: v for k, v in x.items() if k.startswith("offer.")}])
    mean, var = snapshot.score(context, offers)
    assert Snapshot.calibrated(mean, var)[0] == pytest.approx(model.predict_proba_one(x), rel=1e-9)
    loaded = Snapshot.from_bytes(snapshot.to_bytes())
    assert loaded.version == 3
    assert loaded.score(context, offers)[0][0] == pytest.approx(mean[0], abs=1e-4)


@pytest.mark.parametrize("make", LEARNERS)
def test_learner_memory_is_bounded(make: Callable[[], Any]) -> None:
    model = make()
    for ex, y in _examples(500, seed=1):
        model.learn_one(ex, y)
    size = len(pickle.dumps(model))
    for ex, y in _examples(3000, seed=2):
        model.learn_one(ex, y)
    assert len(pickle.dumps(model)) < size * 1.5  # same feature space: no growth per event


@pytest.mark.parametrize("make", POLICIES)
def test_policy_contract(make: Callable[[], Policy]) -> None:
    policy = make()
    assert policy.__doc__
    mean = np.array([-2.0, -1.0, 0.5, -3.0])
    var = np.array([0.5, 0.5, 0.5, 2.0])
    frozen = mean.copy()
    for limit in (1, 2, 4, 9):
        choice = policy.choose(mean, var, limit=limit)
        assert len(choice.picks) == min(limit, 4)
        assert len({p.index for p in choice.picks}) == len(choice.picks)
        assert all(0 < p.probability <= 1 for p in choice.picks)
    assert (mean == frozen).all()
    assert policy.choose(np.array([]), np.array([])).picks == []


@pytest.mark.parametrize("make", POLICIES)
def test_logged_probabilities_match_observed_frequencies(make: Callable[[], Policy]) -> None:
    policy = make()
    mean = np.array([-2.0, -1.5, -1.0])
    var = np.array([1.0, 1.0, 1.0])
    counts = np.zeros(3)
    logged = np.zeros(3)
    n = 4000
    for _ in range(n):
        pick = policy.choose(mean, var).picks[0]
        counts[pick.index] += 1
        logged[pick.index] += pick.probability
    observed = counts / n
    mean_logged = logged / np.maximum(counts, 1)
    # the probability logged with a pick is what IPS weights divide by: it must be right
    assert np.allclose(observed, mean_logged, atol=0.04)


def test_thompson_tries_an_uncertain_offer_often_and_greedy_rarely() -> None:
    mean = np.array([-1.0, -1.6])  # offer 1 looks worse on average ...
    var = np.array([0.01, 4.0])  # ... but is barely known
    ts, greedy = ThompsonPolicy(seed=2), EpsilonGreedyPolicy(seed=2)
    ts_share = np.mean([ts.choose(mean, var).picks[0].index == 1 for _ in range(2000)])
    greedy_share = np.mean([greedy.choose(mean, var).picks[0].index == 1 for _ in range(2000)])
    assert ts_share > 0.25
    assert greedy_share < 0.1


def test_control_group_is_uniform_and_flagged() -> None:
    policy = ThompsonPolicy(seed=4, control_share=1.0)
    picks = [policy.choose(np.array([5.0, -5.0, -5.0]), np.ones(3)) for _ in range(1500)]
    assert all(c.control_group for c in picks)
    share = np.bincount([c.picks[0].index for c in picks], minlength=3) / len(picks)
    assert np.allclose(share, 1 / 3, atol=0.05)
    assert picks[0].picks[0].probability == pytest.approx(1 / 3)


def test_numpy_model_matches_rivers_logistic_regression() -> None:
    """The fast model is river's SGD logistic regression over the same crosses, to float error."""
    fast = BanditModel(
        learning_rate=0.5,
        prior_variance=1.0,
        precondition=False,
        own_dims=0,
        half_life=None,
        scale_numeric=False,  # river's reference sees the raw log1p values
    )
    reference = RiverCrossModel(learning_rate=0.5, prior_variance=1.0)
    examples = _examples(800, seed=7)
    for x, y in examples:
        fast.learn_one(x, y)
        reference.learn_one(x, y)
    for x, _ in _examples(50, seed=8):
        assert fast.predict_proba_one(x) == pytest.approx(reference.predict_proba_one(x), rel=1e-6)


@pytest.mark.parametrize("make", POLICIES)
def test_probabilities_cover_every_candidate_and_sum_to_the_limit(
    make: Callable[[], Policy],
) -> None:
    policy = make()
    mean, var = np.array([-2.0, -1.0, 0.5, -3.0]), np.array([0.5, 0.5, 0.5, 2.0])
    for limit in (1, 2):
        probs = policy.probabilities(mean, var, limit=limit)
        assert probs.shape == (4,) and (probs > 0).all()
        # drawn shares sum to the limit exactly; integrated ones (Thompson, one shown) closely
        assert probs.sum() == pytest.approx(limit, abs=0.01)


@pytest.mark.parametrize("make", POLICIES)
def test_without_exploration_the_expected_best_is_shown_with_certainty(
    make: Callable[[], Policy],
) -> None:
    policy = make()
    mean, var = np.array([-3.0, -3.0, -3.0]), np.array([1.0, 1.0, 1.0])
    weights = np.array([40.0, 300.0, 220.0])
    for _ in range(50):
        picks = policy.choose(mean, var, weights, limit=2, explore=False).picks
        assert [p.index for p in picks] == [1, 2]
        assert all(p.probability == 1.0 and not p.explored for p in picks)


def test_thompson_samples_what_offers_share_together() -> None:
    """A shared term (say, the customer's general responsiveness) however uncertain does not
    scramble offers whose difference is well known, when the policy gets the joint factor."""
    mean = np.array([-1.0, -2.0])
    factor = np.array([[3.0], [3.0]])  # both carry the same uncertain term, variance 9
    var = np.array([9.05, 9.05])
    joint, alone = ThompsonPolicy(seed=3, floor=0.0), ThompsonPolicy(seed=3, floor=0.0)
    joint_best = np.mean(
        [joint.choose(mean, var, factor=factor).picks[0].index == 0 for _ in range(1000)]
    )
    alone_best = np.mean([alone.choose(mean, var).picks[0].index == 0 for _ in range(1000)])
    assert joint_best > 0.95
    assert alone_best < 0.75
    # the logged probability is the joint one
    probs = joint.probabilities(mean, var, factor=factor)
    assert probs[0] > 0.95
