"""Off-policy estimators against answers known in advance: hand-computed logs, identities that
must hold exactly (SNIPS = replay on a uniform log), published interval values, and coverage of
the bootstrap interval on simulated logs whose true value is known."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from models.offline import (
    Estimate,
    doubly_robust,
    effective_sample_size,
    ips,
    ratio_to_baseline,
    replay,
    snips,
    wilson_interval,
)

# a tiny log whose estimates are worked out by hand:
# weights w = target / logging = [2, 0, 2, 2]; w * r = [2, 0, 2, 0]
REWARDS = [1.0, 0.0, 1.0, 0.0]
TARGET = [1.0, 0.0, 0.5, 1.0]
LOGGING = [0.5, 0.5, 0.25, 0.5]


def uniform_log(
    n: int, true_ctr: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A uniformly random log: context in {0, 1}, arm uniform over K, click ~ Bernoulli."""
    rng = np.random.default_rng(seed)
    k = true_ctr.shape[1]
    context = rng.integers(0, 2, size=n)
    action = rng.integers(0, k, size=n)
    click = (rng.random(n) < true_ctr[context, action]).astype(np.float64)
    return context, action, click


# --- Wilson -------------------------------------------------------------------------------------


def test_wilson_matches_the_obd_known_answer() -> None:
    # the Open Bandit sample's random log on "all": 38 clicks in 10,000 rows -> 0.277%-0.521%
    low, high = wilson_interval(38, 10_000)
    assert low == pytest.approx(0.00277, abs=5e-6)
    assert high == pytest.approx(0.00521, abs=5e-6)
    # and the BTS log: 42 / 10,000 -> 0.311%-0.567%
    low, high = wilson_interval(42, 10_000)
    assert (round(100 * low, 3), round(100 * high, 3)) == (0.311, 0.567)


def test_wilson_textbook_value() -> None:
    # Newcombe (1998), Table I example: 81/263 -> 0.2553 to 0.3662
    low, high = wilson_interval(81, 263)
    assert low == pytest.approx(0.2553, abs=1e-4)
    assert high == pytest.approx(0.3662, abs=1e-4)


def test_wilson_edges() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(0, 125)
    assert low == 0.0 and 0.0 < high < 0.04
    low, high = wilson_interval(125, 125)
    assert high == 1.0 and low > 0.96


@pytest.mark.parametrize(
    ("successes", "n", "z", "argument"),
    [(5, 4, 1.96, "successes"), (-1, 4, 1.96, "successes"), (0, -1, 1.96, "n"), (1, 4, 0.0, "z")],
)
def test_wilson_rejects_bad_input(successes: int, n: int, z: float, argument: str) -> None:
    with pytest.raises(ValueError, match=argument):
        wilson_interval(successes, n, z)


# --- replay -------------------------------------------------------------------------------------


def test_replay_counts_only_matched_rows() -> None:
    e = replay([1, 0, 1, 1, 0, 0], matched=[True, True, False, True, False, False])
    assert e.value == pytest.approx(2 / 3)
    assert e.n == 3
    assert (e.ci_low, e.ci_high) == wilson_interval(2, 3, z=NormalDist().inv_cdf(0.975))


def test_replay_with_no_match_knows_nothing() -> None:
    e = replay([1, 0], matched=[False, False])
    assert math.isnan(e.value)
    assert (e.ci_low, e.ci_high, e.n) == (0.0, 1.0, 0)


def test_replay_of_real_valued_rewards_uses_a_normal_interval() -> None:
    e = replay([1.0, 2.0, 3.0, 4.0])
    half = 1.959964 * np.std([1.0, 2.0, 3.0, 4.0], ddof=1) / 2.0
    assert e.value == 2.5
    assert (e.ci_low, e.ci_high) == pytest.approx((2.5 - half, 2.5 + half), rel=1e-6)


def test_replay_rejects_a_mask_of_another_length() -> None:
    with pytest.raises(ValueError, match="matched"):
        replay([1, 0, 1], matched=[True, False])


# --- IPS / SNIPS / DR on a hand-computed log ----------------------------------------------------


def test_ips_hand_computed() -> None:
    e = ips(REWARDS, TARGET, LOGGING, n_boot=0)
    assert e.value == pytest.approx((2 + 0 + 2 + 0) / 4)
    assert e.n == 3  # the row with target probability 0 does not inform the value
    assert math.isnan(e.ci_low) and math.isnan(e.ci_high)


def test_ips_clipping_caps_the_weights() -> None:
    assert ips(REWARDS, TARGET, LOGGING, clip=1.5, n_boot=0).value == pytest.approx(0.75)


def test_snips_hand_computed() -> None:
    e = snips(REWARDS, TARGET, LOGGING, n_boot=0)
    assert e.value == pytest.approx(4 / 6)
    assert e.n == 3


def test_snips_of_a_policy_that_never_takes_a_logged_action_is_undefined() -> None:
    e = snips(REWARDS, [0.0] * 4, LOGGING)
    assert math.isnan(e.value) and e.n == 0


def test_dr_hand_computed() -> None:
    # q(x, a) = 0.5 for every action, so q_pi = 0.5 whatever the policy:
    # terms = 0.5 + w * (r - 0.5) = [1.5, 0.5, 1.5, -0.5] -> mean 0.75
    e = doubly_robust(REWARDS, TARGET, LOGGING, [0.5] * 4, [0.5] * 4, n_boot=0)
    assert e.value == pytest.approx(0.75)
    assert e.n == 4


def test_dr_without_a_reward_model_is_ips() -> None:
    zeros = [0.0] * 4
    dr = doubly_robust(REWARDS, TARGET, LOGGING, zeros, zeros, n_boot=300, seed=4)
    plain = ips(REWARDS, TARGET, LOGGING, n_boot=300, seed=4)
    assert dr.value == pytest.approx(plain.value)
    assert (dr.ci_low, dr.ci_high) == pytest.approx((plain.ci_low, plain.ci_high))


def test_dr_with_the_true_reward_model_is_exact_without_noise() -> None:
    # rewards equal to the model's predictions: the correction vanishes, DR = the model's value
    rewards = [0.2, 0.4, 0.6]
    e = doubly_robust(rewards, [1.0, 0.5, 0.0], [0.5, 0.5, 0.5], rewards, [0.3, 0.3, 0.3])
    assert e.value == pytest.approx(0.3)
    assert (e.ci_low, e.ci_high) == pytest.approx((0.3, 0.3))


def test_uniform_target_on_a_uniform_log_is_the_log_mean() -> None:
    _, _, click = uniform_log(5000, np.full((2, 4), 0.1), seed=2)
    for estimator in (ips, snips):
        e = estimator(click, np.full(5000, 0.25), np.full(5000, 0.25), n_boot=100)
        assert e.value == pytest.approx(click.mean())
        assert e.ci_low < click.mean() < e.ci_high


# --- identities on simulated uniform logs --------------------------------------------------------


def test_snips_of_a_deterministic_policy_on_a_uniform_log_equals_its_replay() -> None:
    true_ctr = np.array([[0.02, 0.05, 0.01, 0.03], [0.04, 0.01, 0.06, 0.02]])
    context, action, click = uniform_log(20_000, true_ctr, seed=1)
    pick = np.where(context == 0, 1, 2)  # a fixed policy: arm 1 in context 0, arm 2 in context 1
    matched = pick == action
    target = matched.astype(np.float64)
    logging = np.full(len(click), 0.25)

    by_replay = replay(click, matched=matched)
    by_snips = snips(click, target, logging, n_boot=0)
    assert by_snips.value == pytest.approx(by_replay.value, rel=1e-12)
    assert by_snips.n == by_replay.n == int(matched.sum())
    # and both estimate the policy's true value, 0.5 * 0.05 + 0.5 * 0.06 = 0.055
    assert by_replay.ci_low < 0.055 < by_replay.ci_high


def test_bootstrap_interval_covers_the_true_value_about_95_percent_of_the_time() -> None:
    # true value of "always arm 3" with CTRs [0.1, 0.2, 0.3, 0.4] is 0.4; 200 independent logs
    true_ctr = np.array([[0.1, 0.2, 0.3, 0.4]] * 2)
    covered = {"ips": 0, "snips": 0}
    runs = 200
    for seed in range(runs):
        _, action, click = uniform_log(800, true_ctr, seed=100 + seed)
        target = (action == 3).astype(np.float64)
        logging = np.full(len(click), 0.25)
        for name, estimator in (("ips", ips), ("snips", snips)):
            e = estimator(click, target, logging, n_boot=400, seed=seed)
            covered[name] += e.ci_low <= 0.4 <= e.ci_high
    for name, hits in covered.items():
        # binomial(200, 0.95) lies in [180, 199] with probability > 0.999; an interval that is
        # too narrow (e.g. not resampling rows) or far too wide (always covers) fails
        assert 180 <= hits <= 199, (name, hits)


def test_stochastic_policy_uses_every_row() -> None:
    # epsilon-greedy around arm 3: SNIPS gives weight to every row, IPS is unbiased for 0.37
    true_ctr = np.array([[0.1, 0.2, 0.3, 0.4]] * 2)
    _, action, click = uniform_log(40_000, true_ctr, seed=7)
    target = np.where(action == 3, 0.9 + 0.1 / 4, 0.1 / 4)
    value = 0.925 * 0.4 + 0.025 * (0.1 + 0.2 + 0.3)
    e = ips(click, target, np.full(len(click), 0.25), n_boot=300)
    assert e.n == len(click)
    assert e.ci_low < value < e.ci_high
    assert e.ci_high - e.ci_low < 0.03


def test_bootstrap_is_reproducible_by_seed() -> None:
    _, action, click = uniform_log(2000, np.full((2, 4), 0.3), seed=3)
    target = (action == 0).astype(np.float64)
    logging = np.full(len(click), 0.25)
    first = snips(click, target, logging, n_boot=200, seed=11)
    assert snips(click, target, logging, n_boot=200, seed=11) == first
    assert snips(click, target, logging, n_boot=200, seed=12) != first


# --- ratio to a baseline ------------------------------------------------------------------------


def test_ratio_of_equal_estimates_is_one() -> None:
    random = Estimate(0.0038, *wilson_interval(38, 10_000), 10_000)
    r = ratio_to_baseline(random, random)
    assert r.value == pytest.approx(1.0)
    assert r.ci_low < 1.0 < r.ci_high
    assert r.n == 10_000


def test_ratio_agrees_with_the_delta_method_on_large_symmetric_estimates() -> None:
    z = 1.959964
    a = Estimate(10.0, 10.0 - z * 0.1, 10.0 + z * 0.1, 1000)
    b = Estimate(5.0, 5.0 - z * 0.05, 5.0 + z * 0.05, 1000)
    r = ratio_to_baseline(a, b)
    se = 2.0 * math.sqrt((0.1 / 10.0) ** 2 + (0.05 / 5.0) ** 2)
    assert r.value == pytest.approx(2.0)
    assert r.ci_low == pytest.approx(2.0 - z * se, rel=2e-3)
    assert r.ci_high == pytest.approx(2.0 + z * se, rel=2e-3)


def test_ratio_with_no_click_has_a_zero_lower_bound_and_a_finite_upper_one() -> None:
    random = Estimate(0.0038, *wilson_interval(38, 10_000), 10_000)
    none = Estimate(0.0, *wilson_interval(0, 125), 125)
    r = ratio_to_baseline(none, random)
    assert (r.value, r.ci_low) == (0.0, 0.0)
    # upper bound u1 / sqrt(l2 (2 t2 - l2)) in closed form for a zero numerator
    expected = none.ci_high / math.sqrt(random.ci_low * (2 * 0.0038 - random.ci_low))
    assert r.ci_high == pytest.approx(expected)


def test_ratio_interval_covers_the_truth_for_binomial_rates() -> None:
    rng = np.random.default_rng(0)
    covered = 0
    runs = 2000
    truth = 0.005 / 0.0038
    for _ in range(runs):
        k1, k2 = int(rng.binomial(125, 0.005)), int(rng.binomial(10_000, 0.0038))
        policy = Estimate(k1 / 125, *wilson_interval(k1, 125), 125)
        if k2 == 0:
            continue
        baseline = Estimate(k2 / 10_000, *wilson_interval(k2, 10_000), 10_000)
        r = ratio_to_baseline(policy, baseline)
        covered += r.ci_low <= truth <= r.ci_high
    assert 0.93 <= covered / runs <= 0.99


def test_ratio_rejects_a_baseline_of_zero() -> None:
    with pytest.raises(ValueError, match="baseline"):
        ratio_to_baseline(Estimate(0.1, 0.05, 0.2, 10), Estimate(0.0, 0.0, 0.1, 10))
    with pytest.raises(ValueError, match="policy"):
        ratio_to_baseline(Estimate(math.nan, 0.0, 1.0, 0), Estimate(0.1, 0.05, 0.2, 10))


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rewards", "target", "logging", "argument"),
    [
        ([1.0, 0.0], [1.0], [0.5, 0.5], "logging_probs"),
        ([1.0, 0.0, 1.0], [1.0, 0.0], [0.5, 0.5], "target_probs"),
        ([1.0, 0.0], [1.0, 0.0], [0.5, 0.0], "logging_probs"),
        ([1.0, 0.0], [1.0, 0.0], [0.5, 1.5], "logging_probs"),
        ([1.0, 0.0], [1.2, 0.0], [0.5, 0.5], "target_probs"),
        ([1.0, 0.0], [-0.1, 0.0], [0.5, 0.5], "target_probs"),
        ([1.0, math.nan], [1.0, 0.0], [0.5, 0.5], "rewards"),
        ([[1.0, 0.0]], [1.0, 0.0], [0.5, 0.5], "rewards"),
        ([], [], [], "rewards"),
    ],
)
def test_weighted_estimators_reject_bad_input(
    rewards: list[float], target: list[float], logging: list[float], argument: str
) -> None:
    for estimator in (ips, snips):
        with pytest.raises(ValueError, match=argument):
            estimator(rewards, target, logging)


def test_dr_rejects_model_predictions_of_another_length() -> None:
    with pytest.raises(ValueError, match="expected_reward_under_target"):
        doubly_robust(REWARDS, TARGET, LOGGING, [0.5] * 4, [0.5] * 3)


def test_bad_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="clip"):
        ips(REWARDS, TARGET, LOGGING, clip=0.0)
    with pytest.raises(ValueError, match="n_boot"):
        snips(REWARDS, TARGET, LOGGING, n_boot=-1)
    with pytest.raises(ValueError, match="level"):
        replay(REWARDS, level=1.5)


def test_effective_sample_size() -> None:
    assert effective_sample_size([2.0, 2.0, 0.0, 2.0]) == pytest.approx(3.0)
    assert effective_sample_size([0.0, 0.0]) == 0.0
    with pytest.raises(ValueError, match="weights"):
        effective_sample_size([1.0, -1.0])
