"""Choosing offers from scores: Thompson sampling, an epsilon-greedy baseline, and a control group.

The base :class:`Policy` owns what every policy must do the same way (template method, as river's
bandits do): the control group served uniformly at random, a small uniform exploration floor, and
the exact probability with which each shown offer was chosen, which off-policy evaluation needs.
Subclasses only write ``_rank``: the order in which they would show the offers, and the probability
that each lands in the top ``limit``.

Thompson sampling draws one logit per offer from the model's posterior, turns it into a
probability, multiplies by the business weight (value x lever x context weight) and shows the best.
An offer with little evidence has a wide posterior, so it wins in proportion to how likely it is to
be best: new offers get tried where they might be good, not uniformly everywhere. The probability
with which the shown offer was chosen has no closed form; with one offer shown it is integrated
numerically (:mod:`models.win_probability`, error far below a draw-based estimate's); with
several, or with joint draws, it is estimated from ``draws`` extra samples.

Given ``factor`` (:meth:`models.Snapshot.score_joint`), it draws the logits jointly: what offers
share (the offer bias, a category) moves them together, so an uncertain shared term does not
scramble offers whose difference is known. Measured on ``bench/simulate.py --sampling joint``
(nbo / oracle after warm-up, seeds 1-3): the default world 0.728 / 0.716 / 0.687 -> 0.746 / 0.726
/ 0.719, its drifted segments' first 2,000 decisions 0.497 -> 0.652 (mean); the sparser world
(``--offers 80 --segments 10 --customers 8000 --base-rate 0.03 --drift-segments 3``) 0.601 /
0.531 / 0.532 -> 0.586 / 0.530 / 0.496, the new offer's share of its segment in its first 3,000
decisions 0.36 -> 0.19. Joint draws explore less (presumably the max of many independent draws
of a shared term explored "by accident"), which the sparser world seems to need: the funnel still
draws each offer's marginal independently.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .win_probability import top_one_batch, top_one_probabilities

__all__ = ["Choice", "EpsilonGreedyPolicy", "Pick", "Policy", "ThompsonPolicy"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Pick:
    """One shown offer: its index among the candidates, how likely it was to be shown, and why."""

    index: int
    probability: float
    explored: bool


@dataclass(frozen=True, slots=True)
class Choice:
    picks: list[Pick]
    control_group: bool


def _sigmoid(z: FloatArray) -> FloatArray:
    result: FloatArray = 1.0 / (1.0 + np.exp(-z))
    return result


class Policy(ABC):
    """Base policy: control group, exploration floor and logged probabilities.

    Parameters
    ----------
    control_share
        Share of decisions served uniformly at random (the control group that lift is measured on).
    floor
        Share of the remaining decisions served uniformly at random, so every eligible offer keeps
        a known, non-zero probability of being shown.
    seed
        Seed of the policy's random generator.
    """

    def __init__(self, *, control_share: float = 0.02, floor: float = 0.02, seed: int = 0) -> None:
        self.control_share = control_share
        self.floor = floor
        self.seed = seed
        self._rng = random.Random(seed)
        self._np_rng = np.random.default_rng(seed)

    def choose(
        self,
        mean: FloatArray,
        var: FloatArray,
        weights: FloatArray | None = None,
        limit: int = 1,
        *,
        explore: bool = True,
        factor: FloatArray | None = None,
    ) -> Choice:
        """Pick up to ``limit`` of the candidates whose logit posteriors are ``(mean, var)``.

        With ``explore=False`` (moments where experimenting is unacceptable, such as a complaint)
        the offers are ranked by their expected priority, with no control group and no floor;
        the picks are then certain (probability 1). ``factor`` (see
        :meth:`models.Snapshot.score_joint`): how the logits vary together, for policies that
        sample them; ``None``: independently.
        """
        n = len(mean)
        limit = max(0, min(limit, n))
        if limit == 0:
            return Choice([], control_group=False)
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
        if not explore:
            expected = 1.0 / (1.0 + np.exp(-mean / np.sqrt(1.0 + np.pi * var / 8.0))) * w
            best = np.argsort(-expected, kind="stable")[:limit]
            return Choice([Pick(int(i), 1.0, False) for i in best], control_group=False)
        if self._rng.random() < self.control_share:
            return self._uniform(mean, var, w, limit, factor, control=True)
        if self._rng.random() < self.floor:
            return self._uniform(mean, var, w, limit, factor, control=False)
        top, top_in = self._rank(mean, var, w, limit, factor)
        if top_in is None:
            top_in = self._in_top(mean, var, w, limit, factor, np.asarray(top, dtype=np.intp))
        greedy = set(np.argsort(-(_sigmoid(mean) * w), kind="stable")[:limit].tolist())
        uniform = limit / n
        picks = [
            Pick(i, self._total(uniform, uniform, float(p)), i not in greedy)
            for i, p in zip(top, top_in, strict=True)
        ]
        return Choice(picks, control_group=False)

    def choose_batch(
        self,
        mean: FloatArray,
        var: FloatArray,
        weights: FloatArray,
        eligible: npt.NDArray[np.bool_],
    ) -> list[Choice]:
        """:meth:`choose` (one offer, exploring) for several decisions at once.

        Row ``b`` of the (decisions, offers) arrays is one decision; it chooses among the
        offers where ``eligible[b]`` holds, and its picks' indices are columns. Here, row by
        row; a policy may do it vectorised, as :class:`ThompsonPolicy` does.
        """
        choices = []
        for b in range(len(mean)):
            columns = np.flatnonzero(eligible[b])
            choice = self.choose(mean[b, columns], var[b, columns], weights[b, columns])
            picks = [Pick(int(columns[p.index]), p.probability, p.explored) for p in choice.picks]
            choices.append(Choice(picks, choice.control_group))
        return choices

    def _uniform(
        self,
        mean: FloatArray,
        var: FloatArray,
        weights: FloatArray,
        limit: int,
        factor: FloatArray | None,
        *,
        control: bool,
    ) -> Choice:
        """A uniformly random choice (control group or floor), each pick with its probability
        under the whole mixture: the policy's own part too, as IPS needs."""
        n = len(mean)
        uniform = limit / n
        chosen = self._np_rng.choice(n, size=limit, replace=False)
        in_top = self._in_top(mean, var, weights, limit, factor, chosen)
        picks = [
            Pick(int(i), self._total(uniform, uniform, float(p)), True)
            for i, p in zip(chosen, in_top, strict=True)
        ]
        return Choice(picks, control_group=control)

    def probabilities(
        self,
        mean: FloatArray,
        var: FloatArray,
        weights: FloatArray | None = None,
        limit: int = 1,
        factor: FloatArray | None = None,
    ) -> FloatArray:
        """Each candidate's probability of being shown (off-policy evaluation needs them all)."""
        n = len(mean)
        limit = max(0, min(limit, n))
        if limit == 0:
            return np.zeros(n)
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
        in_top = self._in_top(mean, var, w, limit, factor, np.arange(n))
        uniform = limit / n
        c, f = self.control_share, self.floor
        result: FloatArray = c * uniform + (1 - c) * (f * uniform + (1 - f) * in_top)
        return result

    def _total(self, control: float, floor: float, policy: float) -> float:
        """Overall probability of showing an offer, mixing control, floor and the policy's own."""
        c, f = self.control_share, self.floor
        return c * control + (1 - c) * (f * floor + (1 - f) * policy)

    @abstractmethod
    def _rank(
        self,
        mean: FloatArray,
        var: FloatArray,
        weights: FloatArray,
        limit: int,
        factor: FloatArray | None,
    ) -> tuple[list[int], FloatArray | None]:
        """The offers the policy shows (its top ``limit``, best first) and, when the choice
        gives them for free, each one's probability of being in the top ``limit`` (else None)."""

    @abstractmethod
    def _in_top(
        self,
        mean: FloatArray,
        var: FloatArray,
        weights: FloatArray,
        limit: int,
        factor: FloatArray | None,
        indices: npt.NDArray[np.intp],
    ) -> FloatArray:
        """Each of ``indices``' probability of being in the policy's top ``limit``."""


class ThompsonPolicy(Policy):
    """Thompson sampling over the model's logit posterior, weighted by business value.

    Examples
    --------
    >>> policy = ThompsonPolicy(seed=1, control_share=0.0, floor=0.0)
    >>> mean = np.array([-3.0, 1.0, -3.0]); var = np.array([0.01, 0.01, 0.01])
    >>> choice = policy.choose(mean, var)
    >>> choice.picks[0].index, round(choice.picks[0].probability, 2)
    (1, 1.0)
    """

    def __init__(
        self,
        *,
        control_share: float = 0.02,
        floor: float = 0.02,
        draws: int = 64,
        seed: int = 0,
    ) -> None:
        super().__init__(control_share=control_share, floor=floor, seed=seed)
        self.draws = draws

    @staticmethod
    def _exact(weights: FloatArray, limit: int, factor: FloatArray | None) -> bool:
        """Whether the shown offer's probability is integrated (:mod:`models.win_probability`):
        one offer shown, independent draws, positive weights; else it is estimated by draws."""
        return limit == 1 and (factor is None or factor.shape[1] == 0) and bool(weights.min() > 0)

    def choose_batch(
        self,
        mean: FloatArray,
        var: FloatArray,
        weights: FloatArray,
        eligible: npt.NDArray[np.bool_],
    ) -> list[Choice]:
        """Vectorised over the decisions: one draw of every offer per decision, and the shown
        offers' probabilities integrated together (see :meth:`Policy.choose_batch`)."""
        counts = eligible.sum(axis=1)
        if not (counts.all() and bool((weights[eligible] > 0).all())):
            return super().choose_batch(mean, var, weights, eligible)
        n_rows = len(mean)
        w = np.where(eligible, weights, 0.0)  # weight 0: never shown, never a rival
        sd = np.sqrt(np.maximum(var, 0.0))
        # as choose: the control group, else the floor, else the policy's own draw
        mode = np.zeros(n_rows, dtype=np.intp)  # 0 policy, 1 control, 2 floor
        for b in range(n_rows):
            if self._rng.random() < self.control_share:
                mode[b] = 1
            elif self._rng.random() < self.floor:
                mode[b] = 2
        picked = np.empty(n_rows, dtype=np.intp)
        policy = np.flatnonzero(mode == 0)
        if len(policy):
            z = mean[policy] + sd[policy] * self._np_rng.standard_normal((len(policy), len(w[0])))
            picked[policy] = np.argmax(np.where(eligible[policy], _sigmoid(z), -1.0) * w[policy], 1)
        for b in np.flatnonzero(mode != 0).tolist():
            columns = np.flatnonzero(eligible[b])
            picked[b] = columns[int(self._np_rng.integers(len(columns)))]
        in_top = top_one_batch(mean, sd, w, picked)
        greedy = np.argmax(np.where(eligible, _sigmoid(mean) * w, -1.0), axis=1)
        choices = []
        for b in range(n_rows):
            uniform = 1.0 / float(counts[b])
            pick = int(picked[b])
            explored = bool(mode[b] != 0 or pick != greedy[b])
            probability = self._total(uniform, uniform, float(in_top[b]))
            choices.append(Choice([Pick(pick, probability, explored)], bool(mode[b] == 1)))
        return choices

    def _rank(
        self,
        mean: FloatArray,
        var: FloatArray,
        weights: FloatArray,
        limit: int,
        factor: FloatArray | None,
    ) -> tuple[list[int], FloatArray | None]:
        if self._exact(weights, limit, factor):
            z = mean + np.sqrt(np.maximum(var, 0.0)) * self._np_rng.standard_normal(len(mean))
            return [int(np.argmax(_sigmoid(z) * weights))], None
        order, in_top = self._sampled(mean, var, weights, limit, factor)
        top = order[:limit]
        return top, in_top[top]

    def _in_top(
        self,
        mean: FloatArray,
        var: FloatArray,
        weights: FloatArray,
        limit: int,
        factor: FloatArray | None,
        indices: npt.NDArray[np.intp],
    ) -> FloatArray:
        if self._exact(weights, limit, factor):
            sd = np.sqrt(np.maximum(var, 0.0))
            return top_one_probabilities(mean, sd, weights, indices)
        _, in_top = self._sampled(mean, var, weights, limit, factor)
        result: FloatArray = in_top[indices]
        return result

    def _sampled(
        self,
        mean: FloatArray,
        var: FloatArray,
        weights: FloatArray,
        limit: int,
        factor: FloatArray | None,
    ) -> tuple[list[int], FloatArray]:
        """One draw's order, and each offer's share of ``draws + 1`` draws (that one included)
        in which it lands in the top ``limit``."""
        n = len(mean)
        rng = self._np_rng
        if factor is None or factor.shape[1] == 0:
            sd = np.sqrt(np.maximum(var, 0.0))
            z = mean + sd * rng.standard_normal((self.draws + 1, n))
        else:  # jointly: what offers share moves them together (see Snapshot.score_joint)
            rest = np.einsum("ij,ij->i", factor, factor)
            np.subtract(var, rest, out=rest)
            sd = np.sqrt(np.maximum(rest, 0.0))
            z = mean + sd * rng.standard_normal((self.draws + 1, n))
            z += rng.standard_normal((self.draws + 1, factor.shape[1])) @ factor.T
        priority = _sigmoid(z) * weights
        if limit == 1:
            top = np.argmax(priority, axis=1)
            counts = np.bincount(top, minlength=n).astype(np.float64)
            order = np.argsort(-priority[0], kind="stable").tolist()
        else:
            ranked = np.argsort(-priority, axis=1, kind="stable")
            counts = np.bincount(ranked[:, :limit].ravel(), minlength=n).astype(np.float64)
            order = ranked[0].tolist()
        return order, counts / (self.draws + 1)


class EpsilonGreedyPolicy(Policy):
    """Show the offers with the best expected value; explore only through the uniform floor.

    The baseline the learning benchmarks compare Thompson sampling with.

    Examples
    --------
    >>> policy = EpsilonGreedyPolicy(floor=0.1, control_share=0.0, seed=3)
    >>> pick = policy.choose(np.array([0.0, 2.0]), np.array([1.0, 1.0])).picks[0]
    >>> pick.index, round(pick.probability, 3)
    (1, 0.95)
    """

    def __init__(self, *, control_share: float = 0.02, floor: float = 0.1, seed: int = 0) -> None:
        super().__init__(control_share=control_share, floor=floor, seed=seed)

    def _rank(
        self,
        mean: FloatArray,
        _var: FloatArray,
        weights: FloatArray,
        limit: int,
        _factor: FloatArray | None,
    ) -> tuple[list[int], FloatArray | None]:
        return self._order(mean, weights)[:limit], np.ones(limit)

    def _in_top(
        self,
        mean: FloatArray,
        _var: FloatArray,
        weights: FloatArray,
        limit: int,
        _factor: FloatArray | None,
        indices: npt.NDArray[np.intp],
    ) -> FloatArray:
        in_top = np.zeros(len(mean))
        in_top[self._order(mean, weights)[:limit]] = 1.0
        result: FloatArray = in_top[indices]
        return result

    @staticmethod
    def _order(mean: FloatArray, weights: FloatArray) -> list[int]:
        order: list[int] = np.argsort(-(_sigmoid(mean) * weights), kind="stable").tolist()
        return order
