"""Off-policy evaluation: what a policy *would* have earned, estimated from logs of another policy.

nbo logs, for every shown offer, the probability with which it was shown. That is what lets us
judge a new policy on past traffic before it serves anyone: reweight the logged outcomes by how much
more (or less) often the new policy would have shown each logged offer. These are the standard
estimators, as pure functions over arrays, each returning an :class:`Estimate` with an interval,
because on the click rates nbo deals with (well under 1%) a point estimate alone is meaningless.

- :func:`replay` (Li, Chu, Langford & Wang, WSDM 2011): on a uniformly random log, the rows where
  the policy picks the logged action are an unbiased sample of what it would meet online.
- :func:`ips` / :func:`snips`: inverse propensity scoring and its self-normalised form, which uses
  every row (a stochastic policy's weight on the logged action), at the cost of a ratio's bias.
- :func:`doubly_robust`: IPS on the residuals of a reward model plus the model's own estimate;
  unbiased if either the propensities or the model are right, lower variance when the model is good.
- :func:`ratio_to_baseline`: policy value / a baseline's value (the "relative CTR" the Open Bandit
  Dataset paper reports), with an interval built from the two estimates' intervals.

Intervals: Wilson for a replay of 0/1 rewards; a seeded, vectorised percentile bootstrap over rows
for the weighted estimators.

Examples
--------
>>> log_rewards = [1, 0, 1, 0]
>>> ips(log_rewards, [1.0, 0.0, 0.5, 1.0], [0.5, 0.5, 0.25, 0.5], n_boot=0).value
1.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

__all__ = [
    "Estimate",
    "doubly_robust",
    "effective_sample_size",
    "ips",
    "ratio_to_baseline",
    "replay",
    "snips",
    "wilson_interval",
]

FloatArray = npt.NDArray[np.float64]

_BOOT_CHUNK = 64  # replicates drawn at once: bounds memory at _BOOT_CHUNK x n row indices


@dataclass(frozen=True, slots=True)
class Estimate:
    """A policy value with its confidence interval and the number of events behind it.

    ``n`` is the number of events that actually inform the value (matched rows for replay, rows
    with a non-zero weight for IPS/SNIPS): with rare rewards it says more than the interval's width
    about how far the number can be trusted.
    """

    value: float
    ci_low: float
    ci_high: float
    n: int


def _z(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: must be in (0, 1), got {level!r}")
    return NormalDist().inv_cdf(0.5 + level / 2.0)


def _vector(name: str, values: npt.ArrayLike) -> FloatArray:
    """A 1-D array of finite floats, or a ValueError naming the argument."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: not a sequence of numbers ({error})") from error
    if array.ndim != 1:
        raise ValueError(f"{name}: must be one-dimensional, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    return array


def _same_length(first: str, arrays: dict[str, FloatArray]) -> int:
    n = len(arrays[first])
    for name, array in arrays.items():
        if len(array) != n:
            raise ValueError(f"{name}: length {len(array)} differs from {first}'s {n}")
    return n


def _weights(
    target_probs: npt.ArrayLike,
    logging_probs: npt.ArrayLike,
    clip: float | None,
) -> FloatArray:
    """Importance weights pi(a|x) / mu(a|x), validated, optionally clipped from above."""
    target = _vector("target_probs", target_probs)
    logging = _vector("logging_probs", logging_probs)
    if np.any((target < 0.0) | (target > 1.0)):
        raise ValueError("target_probs: probabilities must be in [0, 1]")
    if np.any((logging <= 0.0) | (logging > 1.0)):
        raise ValueError("logging_probs: probabilities must be in (0, 1]")
    if len(target) != len(logging):
        raise ValueError(
            f"logging_probs: length {len(logging)} differs from target_probs' {len(target)}"
        )
    w: FloatArray = target / logging
    if clip is not None:
        if not clip > 0.0:
            raise ValueError(f"clip: must be positive, got {clip!r}")
        w = np.minimum(w, clip)
    return w


def _check_boot(n_boot: int) -> None:
    if n_boot < 0:
        raise ValueError(f"n_boot: must be >= 0, got {n_boot!r}")


def _bootstrap_sums(columns: FloatArray, n_boot: int, seed: int) -> FloatArray:
    """Column sums of ``n_boot`` resamples (with replacement) of the rows of ``columns``.

    ``columns`` is ``(k, n)``; the result is ``(n_boot, k)``. Each replicate's resampling counts
    are built with one ``bincount`` and applied with one matrix product, so a replicate costs
    O(n) whatever ``k``, with no Python loop over rows.
    """
    k, n = columns.shape
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, k))
    for start in range(0, n_boot, _BOOT_CHUNK):
        m = min(_BOOT_CHUNK, n_boot - start)
        idx = rng.integers(0, n, size=(m, n))
        idx += (np.arange(m) * n)[:, None]
        counts = np.bincount(idx.ravel(), minlength=m * n).reshape(m, n).astype(np.float64)
        out[start : start + m] = counts @ columns.T
    return out


def _percentile_interval(replicates: FloatArray, level: float) -> tuple[float, float]:
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return math.nan, math.nan
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(low), float(high)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Used instead of the normal (Wald) interval because click-through rates sit near 0, where the
    Wald interval dips below zero and badly under-covers; Wilson stays in [0, 1] and keeps close to
    its nominal coverage even with a handful of successes. With ``n == 0`` it is the vacuous
    ``(0, 1)``.

    Examples
    --------
    >>> low, high = wilson_interval(38, 10_000)
    >>> round(100 * low, 3), round(100 * high, 3)
    (0.277, 0.521)
    >>> wilson_interval(0, 0)
    (0.0, 1.0)
    >>> wilson_interval(0, 10)[0]
    0.0
    """
    if n < 0:
        raise ValueError(f"n: must be >= 0, got {n!r}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes: must be in [0, n={n}], got {successes!r}")
    if not z > 0.0:
        raise ValueError(f"z: must be positive, got {z!r}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def replay(
    rewards: npt.ArrayLike,
    matched: npt.ArrayLike | None = None,
    *,
    level: float = 0.95,
) -> Estimate:
    """Replay value (Li et al. 2011): mean reward over the rows where the policy matched the log.

    Walking a *uniformly random* log in time order and keeping only the rows where the evaluated
    policy picks the logged action gives an unbiased sample of the events that policy would have
    met online, learning included. The value is the plain mean over those rows; the interval is
    Wilson's when every reward is 0/1 (clicks), otherwise a normal interval on the mean.

    Parameters
    ----------
    rewards
        Rewards of the logged rows (all of them, or only the matched ones if ``matched`` is None).
    matched
        Boolean mask, True where the policy's pick equals the logged action. None: all rows count.
    level
        Confidence level of the interval.

    Returns
    -------
    Estimate
        ``n`` is the number of matched rows. With none, the value is NaN and the interval (0, 1)
        for 0/1 rewards (nothing is known), NaN otherwise.

    Examples
    --------
    >>> e = replay([0, 1, 1, 0, 1], matched=[True, True, False, True, False])
    >>> round(e.value, 4), e.n
    (0.3333, 3)
    >>> replay([0] * 125).ci_high < 0.03
    True
    """
    z = _z(level)
    r = _vector("rewards", rewards)
    if matched is not None:
        mask = np.asarray(matched)
        if mask.shape != r.shape:
            raise ValueError(f"matched: shape {mask.shape} differs from rewards' {r.shape}")
        if mask.dtype != np.bool_:
            if not np.all((mask == 0) | (mask == 1)):
                raise ValueError("matched: must be a boolean mask")
            mask = mask.astype(bool)
        r = r[mask]
    n = int(r.size)
    binary = bool(np.all((r == 0.0) | (r == 1.0)))
    if n == 0:
        return (
            Estimate(math.nan, 0.0, 1.0, 0) if binary else Estimate(math.nan, math.nan, math.nan, 0)
        )
    value = float(r.mean())
    if binary:
        low, high = wilson_interval(int(r.sum()), n, z)
    else:
        half = z * float(r.std(ddof=1)) / math.sqrt(n) if n > 1 else math.inf
        low, high = value - half, value + half
    return Estimate(value, low, high, n)


def ips(
    rewards: npt.ArrayLike,
    target_probs: npt.ArrayLike,
    logging_probs: npt.ArrayLike,
    *,
    clip: float | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Estimate:
    """Inverse propensity scoring: the mean of ``w * reward`` with ``w = target / logging``.

    Unbiased whenever the logging policy gave every action the target policy takes a non-zero
    probability, but its variance grows with the weights; ``clip`` caps them (trading bias for
    variance: a clipped estimate is biased low for non-negative rewards), so say so when you use it.

    Parameters
    ----------
    rewards
        Reward of each logged row.
    target_probs
        Probability the evaluated policy gives the logged action of each row, in [0, 1].
    logging_probs
        Probability the logging policy gave the logged action (its propensity), in (0, 1].
    clip
        Upper bound on the importance weights; None for none.
    n_boot
        Bootstrap replicates for the interval (resampling rows); 0 for no interval (NaN bounds).
    seed
        Seed of the bootstrap's generator: the same inputs and seed give the same interval.
    level
        Confidence level of the percentile bootstrap interval.

    Returns
    -------
    Estimate
        ``n`` counts the rows with a non-zero weight, the rows that inform the value. The interval
        degenerates to a point when no weighted reward is non-zero (e.g. no click among the
        matched rows); :func:`replay`'s Wilson interval is the honest one in that case.

    Examples
    --------
    >>> e = ips([1, 0, 1, 0], [1.0, 0.0, 0.5, 1.0], [0.5, 0.5, 0.25, 0.5], n_boot=200)
    >>> e.value, e.n
    (1.0, 3)
    >>> ips([1, 0, 1, 0], [1.0, 0.0, 0.5, 1.0], [0.5, 0.5, 0.25, 0.5], clip=1.5, n_boot=0).value
    0.75
    """
    _check_boot(n_boot)
    r = _vector("rewards", rewards)
    w = _weights(target_probs, logging_probs, clip)
    n = _same_length("rewards", {"rewards": r, "target_probs": w})
    if n == 0:
        raise ValueError("rewards: empty log")
    terms = w * r
    value = float(terms.mean())
    low = high = math.nan
    if n_boot:
        sums = _bootstrap_sums(terms[None, :], n_boot, seed)[:, 0]
        low, high = _percentile_interval(sums / n, level)
    return Estimate(value, low, high, int(np.count_nonzero(w)))


def snips(
    rewards: npt.ArrayLike,
    target_probs: npt.ArrayLike,
    logging_probs: npt.ArrayLike,
    *,
    clip: float | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Estimate:
    """Self-normalised IPS: ``sum(w * reward) / sum(w)``.

    Dividing by the realised sum of weights instead of ``n`` removes most of IPS's variance from
    weights that happen to come out large or small, at the cost of a small bias that vanishes as
    the log grows. On a uniformly random log, the SNIPS value of a deterministic policy is exactly
    its replay value (the matched rows all carry the same weight). Parameters as :func:`ips`.

    Returns
    -------
    Estimate
        ``n`` counts the rows with a non-zero weight. If every weight is zero the policy never
        takes a logged action and the value is NaN with ``n == 0``.

    Examples
    --------
    >>> e = snips([1, 0, 1, 0], [1.0, 0.0, 0.5, 1.0], [0.5, 0.5, 0.25, 0.5], n_boot=0)
    >>> round(e.value, 4), e.n
    (0.6667, 3)
    """
    _check_boot(n_boot)
    r = _vector("rewards", rewards)
    w = _weights(target_probs, logging_probs, clip)
    n = _same_length("rewards", {"rewards": r, "target_probs": w})
    if n == 0:
        raise ValueError("rewards: empty log")
    total = float(w.sum())
    if total == 0.0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    value = float((w * r).sum()) / total
    low = high = math.nan
    if n_boot:
        sums = _bootstrap_sums(np.vstack([w * r, w]), n_boot, seed)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = sums[:, 0] / sums[:, 1]
        low, high = _percentile_interval(ratios, level)
    return Estimate(value, low, high, int(np.count_nonzero(w)))


def doubly_robust(
    rewards: npt.ArrayLike,
    target_probs: npt.ArrayLike,
    logging_probs: npt.ArrayLike,
    predicted_reward_logged: npt.ArrayLike,
    expected_reward_under_target: npt.ArrayLike,
    *,
    clip: float | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Estimate:
    """Doubly robust estimate (Dudík, Langford & Li 2011).

    Per row: ``q_pi(x) + w * (reward - q(x, a))``, the reward model's estimate of the target
    policy's reward plus an IPS correction of the model's error on the logged action. Unbiased if
    either the propensities or the reward model are right; with a useful model the residuals are
    smaller than the rewards, so the interval is narrower than IPS's. Fit the reward model on other
    rows than the ones evaluated (cross-fitting), or its errors look smaller than they are.

    Parameters
    ----------
    rewards, target_probs, logging_probs, clip, n_boot, seed, level
        As :func:`ips`.
    predicted_reward_logged
        The reward model's prediction ``q(x_i, a_i)`` for each row's logged action.
    expected_reward_under_target
        ``sum_a pi(a | x_i) q(x_i, a)``: the model's expected reward of the target policy per row.

    Returns
    -------
    Estimate
        ``n`` is the number of rows: through the model term every row informs the value.

    Examples
    --------
    With a reward model that predicts nothing (all zeros), DR is IPS:

    >>> zeros = [0.0, 0.0, 0.0, 0.0]
    >>> doubly_robust([1, 0, 1, 0], [1.0, 0.0, 0.5, 1.0], [0.5, 0.5, 0.25, 0.5],
    ...               zeros, zeros, n_boot=0).value
    1.0
    """
    _check_boot(n_boot)
    r = _vector("rewards", rewards)
    w = _weights(target_probs, logging_probs, clip)
    q_logged = _vector("predicted_reward_logged", predicted_reward_logged)
    q_target = _vector("expected_reward_under_target", expected_reward_under_target)
    n = _same_length(
        "rewards",
        {
            "rewards": r,
            "target_probs": w,
            "predicted_reward_logged": q_logged,
            "expected_reward_under_target": q_target,
        },
    )
    if n == 0:
        raise ValueError("rewards: empty log")
    terms = q_target + w * (r - q_logged)
    value = float(terms.mean())
    low = high = math.nan
    if n_boot:
        sums = _bootstrap_sums(terms[None, :], n_boot, seed)[:, 0]
        low, high = _percentile_interval(sums / n, level)
    return Estimate(value, low, high, n)


def effective_sample_size(weights: npt.ArrayLike) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum(w^2)`` of importance weights.

    How many equally weighted rows the weighted log is worth: a few huge weights (tiny logging
    propensities) make a large log worth a handful of events, which the row count hides.

    Examples
    --------
    >>> effective_sample_size([1.0, 1.0, 1.0, 1.0])
    4.0
    >>> effective_sample_size([100.0, 1.0, 1.0, 1.0])
    1.06...
    """
    w = _vector("weights", weights)
    if np.any(w < 0.0):
        raise ValueError("weights: must be non-negative")
    squares = float((w * w).sum())
    return float(w.sum()) ** 2 / squares if squares > 0.0 else 0.0


def ratio_to_baseline(policy: Estimate, baseline: Estimate) -> Estimate:
    """Policy value / baseline value, with a MOVER-R interval built from the two intervals.

    The Open Bandit Dataset paper reports policies as "relative CTR" to the logging policy; the
    interval matters more than the ratio when both CTRs rest on a handful of clicks. Neither
    bootstrap nor delta method: the interval is MOVER-R (Donner & Zou 2012, "Closed-form confidence
    intervals for functions of the normal mean and standard deviation", Stat Methods Med Res 21),
    which recovers each estimate's variance from its own interval. On large samples it agrees with
    the delta method; unlike the delta method it keeps Wilson intervals' asymmetry and still works
    when the policy's value is 0 (no click among its matched rows). The level is the inputs' level.

    It assumes the two estimates independent. Estimated on the same log they are positively
    correlated, which makes this interval conservative (too wide), not too narrow.

    Parameters
    ----------
    policy, baseline
        Estimates with finite intervals; the baseline's interval must lie above zero.

    Returns
    -------
    Estimate
        The ratio, its interval (upper bound ``inf`` when the baseline's interval is too wide to
        bound it) and the policy's ``n``.

    Examples
    --------
    >>> random = Estimate(0.0038, 0.00277, 0.00521, 10_000)
    >>> r = ratio_to_baseline(Estimate(0.0038, 0.00277, 0.00521, 10_000), random)
    >>> round(r.value, 3), r.ci_low < 1.0 < r.ci_high
    (1.0, True)
    >>> ratio_to_baseline(Estimate(0.0, 0.0, 0.0298, 125), random).ci_low
    0.0
    """
    t1, l1, u1 = policy.value, policy.ci_low, policy.ci_high
    t2, l2, u2 = baseline.value, baseline.ci_low, baseline.ci_high
    for name, values in (("policy", (t1, l1, u1)), ("baseline", (t2, l2, u2))):
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"{name}: value and interval must be finite, got {values}")
        if not values[1] <= values[0] <= values[2]:
            raise ValueError(f"{name}: value must lie within its interval, got {values}")
    if not l2 > 0.0:
        raise ValueError(f"baseline: interval must lie above zero, got ({l2}, {u2})")
    value = t1 / t2
    product = t1 * t2
    low_denominator = u2 * (2.0 * t2 - u2)
    low_discriminant = product * product - l1 * u2 * (2.0 * t1 - l1) * (2.0 * t2 - u2)
    if low_denominator > 0.0:
        low = (product - math.sqrt(max(low_discriminant, 0.0))) / low_denominator
    else:
        low = 0.0 if l1 >= 0.0 else -math.inf
    high_denominator = l2 * (2.0 * t2 - l2)
    high_discriminant = product * product - u1 * l2 * (2.0 * t1 - u1) * (2.0 * t2 - l2)
    if high_denominator > 0.0 and high_discriminant >= 0.0:
        high = (product + math.sqrt(high_discriminant)) / high_denominator
    else:
        high = math.inf
    return Estimate(value, min(low, value), max(high, value), policy.n)
