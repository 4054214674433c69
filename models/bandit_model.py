"""The propensity model, learned online with its uncertainty, in numpy: shared crosses + own terms.

Why this shape. ``logit = b + sum_ij x_i a_j W_ij + theta_o . x`` over the context tokens ``x`` and
the offer tokens ``a`` (its id, its attributes and a bias):

- the **shared** bilinear part ``W``: the crosses with an offer's attributes are shared by every
  offer that has them, so a new offer that looks like a known one starts from what is known; the
  crosses with the offer bias are the customer's general responsiveness. Its posterior is kept
  diagonal (one variance per cross): there are hundreds of crosses, touched sparsely.
- the **own** part ``theta_o`` (hybrid LinTS, as in Li et al. 2010): per offer, a Bayesian linear
  model over the context vector with a *full* covariance, so what is the offer's own (this segment
  likes exactly this offer) is learned with proper second-order steps, and its uncertainty shrinks
  along the directions that were actually observed. It covers the first ``own_dims`` context tokens
  the model meets (the bias first), which bounds memory and scoring cost per offer.

Learning, per outcome: the error ``y - p`` is shared between the two parts in proportion to
their predictive variances (``v_shared``, ``v_own``). The own part takes an extended-Kalman
(Laplace/ADF) step on its share, moving the logit by ``(1 - share)(y - p) v_own / (1 + h v_own)``
with ``h = p(1-p)``, so its steps shrink like ``1/n`` as its evidence grows. The shared part moves
the logit by ``share * (y - p)`` (times ``learning_rate``), spread over its crosses in proportion
to their variances: an error corrects mostly what the model is least sure of, but the step itself
does not shrink with evidence. That is deliberate, measured: the joint Kalman step for the shared
part (``v_shared (y - p) / (1 + h v_total)``) anneals far too early with the diagonal precision
below (which counts each outcome as full evidence for every cross it touches) and fell to 0.60,
0.62, 0.56 of the oracle on ``bench/simulate.py`` seeds 1-3, against 0.72, 0.72, 0.70. With
``precondition=False`` and no own part the shared part is plain SGD on log loss over the same
crosses as river's ``LogisticRegression`` (:class:`models.river_model.RiverCrossModel`); the two
agree to float error, which the tests check.

Diagonal precision of the shared part: a purely diagonal posterior over hundreds of small,
normalised cross terms badly overstates uncertainty (each term sees only a sliver of the signal),
so each update adds ``h * c^2 * K`` (``K`` the number of active terms): for repeated identical
inputs the score variance then falls like ``1 / (1/prior_variance + n h)``, as a full posterior
would. It is floored at ``min_variance``.

Numeric scale. A numeric feature enters as ``log1p`` of its value, which for money or usage is
3 to 5, where a one-hot token is 1: after the L2 normalisation a handful of numerics would take
most of the vector's mass, so every categorical token (and every cross with it) would be worth a
fraction of what it should, and the key crosses would need large weights, reached slowly. With
``scale_numeric`` each numeric token is divided by its running root mean square (over the
outcomes learned, floored), so it has the unit scale of a one-hot token whatever the feature's
unit. The scales travel in the snapshot (``row_scale``); serving applies them before normalising.
It is off by default: measured, it does not help. The variance-scaled steps already correct for
a token's scale (a cross's share of each correction is its variance times its squared value, and
its evidence grows with the same square), so on ``bench/simulate.py`` it changed nbo / oracle by
-0.011, +0.007, +0.010 on seeds 1-3 (noise), and on a toy world of one deciding segment and ten
heavy-tailed numeric features it learned the segment's effect *less* far in 1,500 outcomes.

Speed. :meth:`BanditModel.learn_pairs` learns a batch (the learner reads up to 500 outcomes at a
time): tokens are mapped to rows in one Python pass (cached per feature and value, with no token
strings built for what is known), numeric scaling and normalisation are vectorised over the
batch, and only the sequential update itself (a few small numpy operations, and a rank-one update
of one ``own_dims`` x ``own_dims`` covariance) runs per outcome. The result is exactly that of
learning the outcomes one at a time (the numeric scales aside, which are updated once per batch).

What limits learning, measured (``bench/simulate.py`` world, seed 1). The online means are not worse
than a batch fit of the same model: trained on 20,000 uniformly logged outcomes, the model's greedy
choice reaches 0.71 of the oracle, and the MAP fit (Newton, same crosses, prior variance 0.25 to 16)
0.66 to 0.71; on nbo's own 19,755 on-policy outcomes (no drift) 0.868 on fresh contexts, the MAP fit
0.85 to 0.88 (prior variance 1 to 16); on its first 3,000 and 6,000 outcomes 0.48 and 0.65, the MAP
fit at most 0.28 and 0.28. So the shortfall against the oracle over a run is the early phase (about
170 acceptances in the first 3,000 decisions, spread over 48 offers) and the events, not a learner
that extracts too little: per field-pair prior variances by EM, the joint Kalman step, an own part
on unnormalised tokens, an own part over every token (96 dims), other learning rates, prior
variances and half-lives all measured within noise or worse (see the wt-learn branch history). The
predictive variance is far below the error (logit mean squared error 0.86 against a mean variance
0.12 on the uniform log), so Thompson sampling explores too little once evidence has built up;
without the K-fold evidence it explores far too much (exploration cost 0.25).

Tried for issue 4, measured with ``bench/simulate.py --seed N`` (the default world, "A") and
``--offers 80 --segments 10 --customers 8000 --base-rate 0.03 --drift-segments 3`` ("B"), seeds 1-3
each; nbo / oracle after warm-up, A then B, per seed. Today: A 0.728 / 0.716 / 0.687 (mean
0.710), B 0.601 / 0.531 / 0.532 (0.555); drifted segments' first 2,000 decisions A 0.497 (eps-greedy
0.601), B 0.448 (0.515); the new offer's share of its segment in its first 3,000 decisions A 0.54, B
0.36. None is kept as a default (none wins on both worlds):

- Thompson draws from the offers' joint posterior (``--sampling joint``, see
  :meth:`models.Snapshot.score_joint`; kept as an option): A 0.746 / 0.726 / 0.719 (0.730), drift
  0.652; B 0.586 / 0.530 / 0.496 (0.537), new offer 0.19. Joint draws explore less, and B needs it.
- The offer id weighted 1 instead of ``ID_WEIGHT`` 2 (``models.features.ID_WEIGHT = 1.0`` set before
  the run: ids get a sixth of the prior variance and of each step, not four ninths): A 0.686 / 0.687
  / 0.696 (0.690), B 0.581 / 0.574 / 0.565 (0.573); with joint draws A 0.745 / 0.724 / 0.727
  (0.732), B 0.566 / 0.573 / 0.534 (0.558), but the new offer 0.50 (A) and 0.12 (B). The id's prior
  variance trades the early phase against a new offer's exploration; one static prior cannot have
  both.
- A change test (commit e79fdcb, reverted; ``--model-kw change_threshold=8``: per cross, a CUSUM of
  the log-likelihood ratio of the logit one higher or lower than predicted; past 8 nats the context
  token's crosses go back to the prior): A 0.716 / 0.714 / 0.685 (0.705), drift 0.468; B 0.593 /
  0.542 / 0.506 (0.547), drift 0.410; with joint draws A 0.719, B 0.508. It cost 45 µs an outcome
  (model alone 18.7k -> 10k outcomes/s).
- Scaling the exported variances by the factor that makes the learned outcomes most likely
  (prequential, under the probit-damped probability): on a toy world it chose the smallest candidate
  (1/4). Our reading: the means are fitted to the undamped probability, so any damping
  double-counts, and this likelihood says nothing about the exploration the variance is for.
  Dropped before a simulation.

Second round (A, seed 1, unless said; single-seed differences under about 0.02 are noise). Where
the regret is: 92% of it comes from decisions where nbo chose another *category* than the oracle
(its pick is in the oracle's category in 41% of decisions 3,000-10,000, 53% in 13,000-20,000);
the wrong offer within the right category costs 8%. What the encoding can do
(``bench/learning_ceiling.py``: a uniform log, learned online and fitted by batch MAP over the same
crosses; no hashing, every token has its row, 78 context x 64 offer tokens in A): on 20,000
uniform outcomes the online greedy reaches 0.714 (A1) / 0.694 (A2) / 0.570 (B1), the MAP fit
0.71-0.78 / 0.74-0.77 / 0.52-0.63 over prior variances 1-16 (attribute crosses) x 1-4 (id
crosses), 0.73 / 0.74 / 0.56 with the model's own (4 for all); on 100,000 (A1) 0.86-0.90. So the
encoding can express the truth; what is missing is outcomes (800 acceptances in 20,000), and the
online model is within about 0.02-0.07 of the batch fit. These figures are noisy: at 3,000
outcomes two uniform logs of the same world gave the online greedy 0.57 and 0.71, and one
log's figure can fall from 10,000 to 20,000 outcomes (A2 0.732 -> 0.694). (The uniform-log
figures in the list below are from a first version of the log, where today's model reached
0.741 for A1 and 0.528 for B1 at 20,000.) None of these won:

- Narrower priors for the id crosses than for the attribute crosses (the batch fit's best, id
  variance a quarter of the attributes' or less: +0.03 to +0.06 over the model's prior): per-column
  prior precisions, ``prior_variance`` x 4 for attributes, x 0.25 for ids, moved the uniform-log
  figures by -0.01 to +0.03 and lost in the simulation: A1 0.664 (new offer at 8,294 decisions),
  B1 0.586 (0.601). The truth's own shape (ids crossed with the bias and the segment only) made the
  batch fit worse (0.68-0.71).
- Attribute blocks (commit 9f7bc7f, reverted): every offer token but the id gets a
  full-covariance model over the own dims, updated as the own part is (decoupled EKF, one
  denominator for all blocks); means folded into the exported weights, covariances scored as
  ``x' S x``. A1 0.621 / 0.675 / 0.616 (block prior variance 1; 0.25; 1 with ``prior_variance``
  0.5), greedy 0.735 / 0.760 / 0.702 against 0.783, the new offer at 7,070-11,496 decisions; with
  the blocks' variances exported as diagonals, 0.485 (exploration cost 0.24).
- Evidence counted ``K**p``-fold (same commit): p = 0.75 A1 0.644, p = 1.25 0.679.
- Kalman-sized shared steps, from a second evidence counted once per outcome (``v c (y - p) /
  (1 + h v)``, with the split priors above): erratic on uniform logs (B2 at 6,000 outcomes 0.33
  against 0.62); a Kalman floor under the constant step (``max(1, v_shared / (1 + h v))``): A1
  0.720. Polyak averaging of the weights (moving average over 300-3,000 outcomes, uniform log
  A1): 0.733-0.743 against 0.741. (These and the split priors: a few lines each, not committed.)
- Second order, prototyped outside the model (not committed): a full-covariance EKF over the
  attribute crosses (78 context x 16 offer tokens = 1,248 dims) with a full-covariance block per
  offer over its id crosses, one denominator for both. Its means on uniform logs: within noise of
  today's (A1 0.741 against 0.710 on one 3,000-outcome log; 0.539 / 0.656 / 0.682 against 0.605 /
  0.634 / 0.662 at 3,000 / 6,000 / 10,000 on another); 8.7 ms an outcome (BLAS rank-one update of
  a 1,248^2 covariance), 40 times the budget. In the simulation (A1, its own exact ``phi' P phi``
  variances): 0.567, greedy 0.751 (late windows 0.83-0.87 against 0.81-0.84), exploration cost
  0.18: its honest posterior is wider than the K-fold diagonal one, and Thompson sampling spends
  it. With its sampling variances quartered: 0.677 (first 10,000 decisions better, 0.50-0.72 per
  window; drifted segments' first 2,000 decisions 0.613 against 0.514), the new offer at 13,756
  decisions. A Kronecker-factored online Newton step over all crosses (``L^-1 x`` times
  ``R^-1 a``, K-FAC-like): 0.61-0.66 at 20,000 uniform outcomes against 0.74.
- Exploration (patched in the benchmark): Thompson variances halved A1 0.719 (windows
  4,000-10,000 up by 0.01-0.14, the new offer at 5,723), doubled 0.657; the sampling variances'
  evidence counted twice (learning untouched) 0.706 (new offer 4,091); uniform choices for the
  first 2,500 decisions: greedy at 3,000 0.68 against 0.42, after warm-up 0.733 (+0.005). Less
  exploration learns the established offers faster and the new offer slower: one variance serves
  both, and today's is near the balance point on A.

Why drift recovery is slow, measured (A, seed 1): after the drift nbo kept showing the drifted
segments their old favourite category in 52%, 44%, 39%, ... 24% of their decisions in each 1,000 of
the 10,000 after it (the oracle in 2-6%). At decision 22,000, for a roaming offer and 200 seniors'
contexts (web, averaged), the shared part's variance-scaled step gives 88% of an error to the
offer's id crosses (30% to id x numeric-bucket crosses alone) and 1% to the segment's crosses with
the offer's attributes: a category's crosses are shared by its offers, so they are "better known"
than any one offer's id, and the diagonal posterior splits a consistent error by that alone. Our
reading: each old favourite must fail on its own, and the segment x category cross that changed
barely moves (resetting its variance, as the change test does, would help only until its evidence is
counted K-fold again). It is not the whole story: with the id weighted 1 (a smaller id share) the
drifted segments did no better (A 0.439 in the first 2,000). Attributing an error common to all of a
category's offers to the cross they share is what a second-order (full or block covariance over the
attribute and id crosses of a context token) shared part would do. Tried in the second round
(above): its means were no better on uniform logs, and its honest posterior explores more.

Third round (2026-12-07, ``bench/simulate.py --seed N``, in-process, seeds 1-3; after warm-up,
then the drifted segments' first 2,000 decisions after the drift; defaults 0.735 / 0.734 / 0.748
and 0.550 / 0.753 / 0.558): a shorter half-life, ``--half-life 10000``: 0.694 / 0.723 / 0.727,
drift 0.512 / 0.726 / 0.577; ``--half-life 5000``: 0.662 / 0.682 / 0.703, drift 0.454 / 0.530 /
0.613 (more exploration everywhere, no faster recovery). No own part (``--own-dims 0``): 0.715 /
0.676 / 0.700, drift 0.607 / 0.408 / 0.581. Neither recovers the drift reliably; the defaults
stay.

Fourth round (2026-12-07, third session): newcomers. ``bench/simulate.py --policy-seed N``
varies nbo's Thompson draws alone (world and stream fixed), as the service's unseeded draws do:
over four draw seeds of seed 1 the new offer reached half of its segment after 1,144, 1,361,
12,103 and 1,416 decisions. In the slow run its attributes put it 1.8 logits under the segment's
best offer with a standard deviation of 0.95; it was shown 7 times in 5,000 of the segment's
decisions (the run that found it: 49 times in its first 200, 15 accepted). Hence the novelty
variance (:meth:`models.Snapshot.novelty`), measured over four draw seeds of each of seeds 1-3
(A) and one of each of world B's, nbo / oracle after warm-up, then the new offer's decisions to
half of its segment:

- none (before): A 0.706 / 0.721 / 0.702 (mean of four per seed), B 0.505 / 0.581 / 0.528; the
  new offer 624 to 12,103 (A, one over 3,000), B 3,069 / 3,087 / 937.
- ``novelty_variance`` 1 fading over 1,000 outcomes (the default): A 0.719 / 0.716 / 0.691, B
  0.540 / 0.576 / 0.536; the new offer 651 to 2,317 (A, all twelve within 3,000), B 1,617 /
  2,837 / 911; its share of its segment in its first 3,000 decisions at least 38% (before: 1%).
- the same fading over 3,000 outcomes: A 0.717 / 0.714 / 0.674 (longer trials cost seed 3).
- its size, on four of those runs (seed 1 draws 103 and 102, seed 3 and seed 2 draws 201):
  ``novelty_variance`` 0 0.657 / 0.719 / 0.693 / 0.726, 0.5 0.718 / 0.694 / 0.702 / 0.711, 1
  0.729 / 0.695 / 0.683 / 0.700, 2 0.712 / 0.721 / 0.702 / 0.685; the new offer in the first
  run 12,103, 2,561, 2,317, 2,358 decisions. Any size from 0.5 to 2 rescues that run, and none
  differs from the others beyond the draws' spread.
- a boost by impressions instead of age (``n0 / (n0 + shown)``, n0 50): seed 1 0.633 and 0.624,
  since an offer rarely shown because it is poor stays "new" for ever; with no cold-start
  factor (boosting the first catalogue too): 0.702 and 0.682 against 0.719 and 0.702.

Fifth round (2026-12-07, fourth session): with newcomers cared for by their novelty, how wide
the draws are for everything else. Thompson sampling draws every eligible offer's logit apart,
and with 48 to 80 offers the best of the draws is often an offer whose only merit is its
variance: the "exploration cost" ``bench/simulate.py`` reports (nbo's choice against its own
greedy choice) was 0.066 of the oracle on A, seed 1. Chapelle and Li (2011, "An Empirical
Evaluation of Thompson Sampling") found the same on display advertising and drew from the
posterior with its variance scaled by 0.5 or 0.25. Measured, nbo / oracle after warm-up on A
seeds 1-3 with draw seeds 101 and 102 (six runs), and B seeds 1-3 with draw seed 101; then the
drifted segments' first 2,000 decisions after the drift (means), and the new offer's decisions
to half of its segment:

- ``sampling_scale`` 1 (before): A 0.734 / 0.725 / 0.723 / 0.734 / 0.628 / 0.668 (0.702), B
  0.608 / 0.489 / 0.528 (0.542); drift A 0.516, B 0.436; new offer A 552 to 1,842, B 1,630 /
  never / 1,120.
- 0.5: A 0.743 / 0.726 / 0.752 / 0.760 / 0.668 / 0.719 (0.728), B 0.693 / 0.560 /
  0.568 (0.607); drift A 0.584, B 0.557; new offer A 616 to 3,013, B 2,286 / never / 932.
- 0.25: A 0.706, B 0.582, the new offer at 4,179 and 5,137 decisions in two of the A runs.
- also tried, on one draw seed each: the offer id left out of the shared crosses
  (``ID_WEIGHT`` 0: the own part alone learns what is an offer's own): A 0.718 / 0.683 / 0.729,
  B 0.566 / 0.600 / 0.544, the new offer slower (B 4,603 / 3,720 / 2,563); with it, an own
  prior variance of 0.5 or 1: A 0.595-0.702, worse.
- on top of 0.5, the same nine runs: the offer id weighted 1 instead of 2, A 0.722, B 0.620
  (the new offer at 5,225 decisions in B seed 2); a half-life of 10,000 outcomes, A 0.725, B
  0.568. Neither wins on both worlds.

Through the real service the gain did not hold, and 0.5 is not the default. Fresh ``nbo serve``
runs of ``bench/simulate.py --mode service --seed 1`` (unseeded draws), nbo / oracle after
warm-up: with 0.5, 0.726 / 0.607 / 0.702 / 0.597 / 0.739 / 0.743; with 1, in the same hour,
0.700 / 0.721 / 0.730, and 0.730 / 0.725 / 0.702 the session before.
The two runs near 0.6 stalled at about 0.52 of the oracle from decision 4,000 to 10,000: with
half the variance the draws settled early on offers a young model favoured and stayed there.
In-process the model is refreshed every ``--snapshot-every`` outcomes; the service publishes on
its own cadence and its outcomes arrive with the window's delay, so more decisions share one
posterior, and narrower draws repeat the same choices. Seeds 2 and 3 through the service with
0.5: 0.756 (drift 643 decisions, new offer 432), 0.682 and 0.727 (the new offer at 1,025 and
6,609 decisions). The scale stays an option (``BanditModel(sampling_scale=...)``).

The scale applies to the model's variance only: a newcomer's novelty is added unscaled, and the
propensities shown and calibrated use the variance as it is (the logged probability is that of
the draw made, so it includes the scale). A checkpoint from before it loads with 1.

Sixth round (2026-12-07, fifth session): could the model's own surprise tell it where to explore
after a drift, as the novelty does for a newcomer? Measured before building it: over A seed 1 the
standardised residual of each segment's outcomes (``sum(y - p) / sqrt(sum p(1 - p))``, the
model's probability before learning each outcome, decayed over 2,000 outcomes, read every 1,500
outcomes) stayed within -1.6 to -0.2 for the drifted segments (senior, business) in the 10,000
outcomes after the drift, inside the range the other segments showed over the run (-2.3 to
+2.4). The model tracks what it shows (the old favourite's
decline is learned as it happens); what changed is what it does not show (streaming, now the
best for them), which no residual of its own outcomes can reveal. Not built.

Forgetting. Acceptance drifts (tastes, seasons, competitors' offers), so evidence is discounted
with a half-life counted in outcomes (``half_life``): every precision decays towards the prior
(the own covariances are inflated, then capped at the prior by a diagonal rescaling, which keeps
them positive definite). The means are not decayed, only the confidence in them: after a drift,
exploration comes back where evidence is old and new outcomes move the means quickly again.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .features import BIAS, OfferTokenCache, Tokens, _tokens_of, encode, split_example
from .snapshot import Snapshot

__all__ = ["BanditModel"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

_DECAY_EVERY = 512
"""Outcomes between two applications of the forgetting (one vectorised pass over all weights,
own covariances included: about 1 ms with 50 offers, so not after every outcome)."""


_BUCKETS = 64
"""Bucket tokens per numeric feature kept in the lookup table (|v| up to 2^64; larger: looked
up by name)."""

_MIN_RMS = 0.1
"""Floor of a numeric token's running RMS (its scale is at most 10): a feature seen as 0 only
so far must not blow up the first non-zero value."""


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


class BanditModel:
    """Online propensity model for (customer, context, offer) with its posterior uncertainty.

    Parameters
    ----------
    learning_rate
        Scale of each step (1.0: the Kalman step itself; plain SGD step without ``precondition``).
    prior_rate
        Acceptance rate assumed before any evidence (the intercept's starting point).
    prior_variance
        Prior variance of each shared cross weight (the logit of a combination never seen).
    min_variance
        Floor on each shared weight's variance, so exploration never stops entirely.
    l2
        L2 penalty on the shared weights an update touches.
    precondition
        Variance-scaled (Kalman) steps. Off: plain SGD on the shared crosses, exactly river's
        LogisticRegression (the own part, if any, still learns by its Kalman step).
    own_dims
        Context tokens (the first ones met, the bias first) in each offer's own full-covariance
        model; 0 turns the own part off. Learning costs O(own_dims^2) per outcome, and the
        snapshot holds own_dims^2 numbers per offer.
    own_prior_variance
        Prior variance of each own weight.
    half_life
        Outcomes after which old evidence counts half (``None``: never forget).
    scale_numeric
        Divide each numeric token by its running RMS, so it has a one-hot token's unit scale.
    novelty_variance
        Extra variance of the logit Thompson sampling draws for an offer that arrives in an
        established model, fading over ``novelty_outcomes`` outcomes (see
        :meth:`models.Snapshot.novelty`); 0 turns it off. Exploration only: the propensities
        shown and calibrated do not include it.
    novelty_outcomes
        Outcomes learned over which an offer's novelty fades by a factor e.
    sampling_scale
        Factor on the model's variance in Thompson sampling's draws (and so in the logged
        probabilities, which stay those of the draws made); the propensities shown and
        calibrated use the variance as it is. 1 (the default): the posterior as it is; 0.5
        learned faster in-process but got stuck in two of six runs through the service (see
        "Fifth round" in the module docstring).
    seed
        Kept for a uniform API; the model itself is deterministic.

    Examples
    --------
    >>> m = BanditModel()
    >>> x = {"segment": "youth", "offer.id": "data10", "offer.category": "data"}
    >>> before = m.predict_proba_one(x)
    >>> for _ in range(50):
    ...     m.learn_one(x, True)
    >>> m.predict_proba_one(x) > before
    True
    """

    def __init__(
        self,
        *,
        learning_rate: float = 1.0,
        prior_rate: float = 0.05,
        prior_variance: float = 4.0,
        min_variance: float = 0.002,
        l2: float = 0.0,
        precondition: bool = True,
        own_dims: int = 32,
        own_prior_variance: float = 0.1,
        half_life: float | None = 20000.0,
        scale_numeric: bool = False,
        novelty_variance: float = 1.0,
        novelty_outcomes: float = 1000.0,
        sampling_scale: float = 1.0,
        seed: int = 0,
    ) -> None:
        self.learning_rate = learning_rate
        self.prior_rate = prior_rate
        self.prior_variance = prior_variance
        self.min_variance = min_variance
        self.l2 = l2
        self.precondition = precondition
        self.own_dims = own_dims
        self.own_prior_variance = own_prior_variance
        self.half_life = half_life
        self.scale_numeric = scale_numeric
        self.novelty_variance = novelty_variance
        self.novelty_outcomes = novelty_outcomes
        self.sampling_scale = sampling_scale
        self.seed = seed
        self._intercept = _logit(prior_rate)
        self._rows: dict[str, int] = {BIAS: 0}
        self._cols: dict[str, int] = {BIAS: 0}
        self._w = np.zeros((64, 16))
        self._evidence = np.zeros((64, 16))
        self._numeric = np.zeros(64, dtype=bool)
        """Per row: a numeric token (scaled by its RMS)."""
        self._sq_sum = np.zeros(64)
        self._sq_n = np.zeros(64)
        self._offer_tokens = OfferTokenCache()
        self._n_learned = 0
        self._own_ids: dict[str, int] = {}
        self._births: dict[str, int] = {}
        """Offer id -> outcomes learned before its first one (see :meth:`Snapshot.novelty`)."""
        dims = max(own_dims, 0)
        self._set_own(np.zeros((0, dims)), np.zeros((0, dims, dims)))
        self._since_decay = 0
        self._reset_caches()

    def _reset_caches(self) -> None:
        """Lookup caches, derived from the token indices: not pickled, refilled on demand."""
        self._offer_cols: dict[int, tuple[Tokens, IntArray, FloatArray]] = {}
        """id of an offer's cached tokens -> (those tokens, their columns, values); the tokens
        are kept so the id cannot be reused by another list while the entry lives."""
        self._str_rows: dict[tuple[str, str], int] = {}
        self._bool_rows: dict[tuple[str, bool], int] = {}
        self._num_ids: dict[str, int] = {}
        """numeric feature -> its index in the tables below."""
        self._num_names: list[str] = []
        self._num_row = np.zeros(0, dtype=np.intp)
        """Per numeric feature: the row of its value token."""
        self._num_table = np.zeros((0, _BUCKETS), dtype=np.intp)
        """Per numeric feature and bucket: the row of the bucket token (-1: not looked up yet)."""
        self._collision = False

    _CACHES = (
        "_offer_cols",
        "_str_rows",
        "_bool_rows",
        "_num_ids",
        "_num_names",
        "_num_row",
        "_num_table",
        "_collision",
    )

    def _set_own(self, theta: FloatArray, cov: FloatArray) -> None:
        """Keep each offer's own covariance and mean stacked, ``[Sigma; theta]``, one
        (dims + 1) x dims matrix per offer: one product gives ``Sigma x`` and ``theta . x``,
        and one rank-one update moves both (``_cov`` and ``_theta`` are views of it)."""
        cap, dims = theta.shape
        own = np.zeros((cap, dims + 1, dims))
        own[:, :dims] = cov
        own[:, dims] = theta
        self._own = own
        self._cov = own[:, :dims]
        self._theta = own[:, dims]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in self._CACHES:  # derived; the offer cache is keyed by object ids
            state.pop(name, None)
        state.pop("_own", None)  # _theta and _cov are its views: pickled as themselves
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Checkpoints of earlier versions of the model load as such a model."""
        rows = state["_w"].shape[0]
        defaults: dict[str, Any] = {
            "own_dims": 0,
            "own_prior_variance": 1.0,
            "half_life": None,
            "_own_ids": {},
            "_theta": np.zeros((0, 0)),
            "_cov": np.zeros((0, 0, 0)),
            "_since_decay": 0,
            "scale_numeric": False,
            "_numeric": np.zeros(rows, dtype=bool),
            "_sq_sum": np.zeros(rows),
            "_sq_n": np.zeros(rows),
            "_births": {},
            "novelty_variance": 0.0,
            "novelty_outcomes": 1000.0,
            "sampling_scale": 1.0,
        }
        state = {k: v for k, v in state.items() if k not in self._CACHES}
        self.__dict__.update(defaults | state)
        self._set_own(self._theta, self._cov)
        dims = self._theta.shape[1]
        if self.own_dims > dims:  # an older model grew its own part with the tokens: widen it
            self.own_dims, target = dims, self.own_dims
            self._widen_own(target)
        self._reset_caches()

    @property
    def n_learned(self) -> int:
        return self._n_learned

    # ------------------------------------------------------------------ tokens -> rows, columns

    def _encode_offer(self, offer: dict[str, Any]) -> Tokens:
        return self._offer_tokens(offer)

    def _offer_columns(self, offer: dict[str, Any]) -> tuple[IntArray, FloatArray]:
        """The offer's columns and values (adding its new tokens); offers repeat: cached."""
        tokens = self._encode_offer(offer)
        cached = self._offer_cols.get(id(tokens))
        if cached is not None and cached[0] is tokens:
            return cached[1], cached[2]
        ci, avs, _ = self._lookup(tokens, self._cols, add=True)
        if len(self._offer_cols) >= 10_000:
            self._offer_cols.clear()
        entry = (tokens, np.asarray(ci, dtype=np.intp), np.asarray(avs, dtype=np.float64))
        self._offer_cols[id(tokens)] = entry
        return entry[1], entry[2]

    def _row(self, token: str, *, numeric: bool = False) -> int:
        """The row of a context token, added if new."""
        row = self._rows.get(token)
        if row is None:
            row = self._rows[token] = len(self._rows)
            self._grow(row + 1, 1)
            self._numeric[row] = numeric
        else:  # a new cache key for a known token: two features may spell the same token
            self._collision = True
        return row

    def _numeric_feature(self, name: str) -> int:
        """The index of a numeric feature (its value token's row, its buckets' rows)."""
        f = self._num_ids[name] = len(self._num_ids)
        row = self._row(name, numeric=True)
        if f >= len(self._num_table):
            table = np.full((max(8, 2 * f), _BUCKETS), -1, dtype=np.intp)
            table[: len(self._num_table)] = self._num_table
            self._num_table = table
            self._num_names.extend([""] * (len(table) - len(self._num_names)))
            rows = np.zeros(len(table), dtype=np.intp)
            rows[: len(self._num_row)] = self._num_row
            self._num_row = rows
        self._num_row[f] = row
        self._num_names[f] = name
        return f

    def _context_rows(
        self,
        context: Mapping[str, Any],
        rows: list[int],
        vals: list[float],
        features: list[int],
        values: list[float],
    ) -> None:
        """Append a context's categorical rows and values (bias first), and its numeric features
        and raw values (mapped to tokens, vectorised, by :meth:`_prepare`), adding new tokens.

        The same tokens as :func:`models.features.encode`, without building their strings once
        they are known: this runs for every token of every outcome.
        """
        rows.append(0)
        vals.append(1.0)
        str_rows, bool_rows, num_ids = self._str_rows, self._bool_rows, self._num_ids
        for name, value in context.items():
            kind = type(value)
            if kind is str:
                row = str_rows.get((name, value))
                if row is None:
                    row = str_rows[(name, value)] = self._row(name + "=" + value)
                rows.append(row)
                vals.append(1.0)
            elif kind is float or kind is int:
                if value:  # a zero gives no token (see models.features)
                    f = num_ids.get(name)
                    features.append(self._numeric_feature(name) if f is None else f)
                    values.append(value)
            elif kind is bool:
                row = bool_rows.get((name, value))
                if row is None:
                    token = name + ("=true" if value else "=false")
                    row = bool_rows[(name, value)] = self._row(token)
                rows.append(row)
                vals.append(1.0)
            elif kind is list and all(type(item) is str for item in value):  # products held
                if len(set(value)) != len(value):
                    self._collision = True  # an item twice: the token is kept once
                for item in value:
                    row = str_rows.get((name, item))
                    if row is None:
                        row = str_rows[(name, item)] = self._row(name + "=" + item)
                    rows.append(row)
                    vals.append(1.0)
            else:
                out: Tokens = []
                _tokens_of(name, value, out)
                self._collision = True  # a list may repeat an item
                for token, v in out:
                    rows.append(self._row(token, numeric=token == name))
                    vals.append(v)

    def _grow(self, rows: int, cols: int) -> None:
        r, c = self._w.shape
        if rows <= r and cols <= c:
            return
        shape = (max(r, 1 << (rows - 1).bit_length()), max(c, 1 << (cols - 1).bit_length()))
        for name in ("_w", "_evidence"):
            old = getattr(self, name)
            new = np.zeros(shape)
            new[: old.shape[0], : old.shape[1]] = old
            setattr(self, name, new)
        for name in ("_numeric", "_sq_sum", "_sq_n"):
            old = getattr(self, name)
            new = np.zeros(shape[0], dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def _row_scale(self, n: int) -> FloatArray:
        """Scale of the first ``n`` context tokens: 1 / running RMS for numerics, else 1."""
        scale = np.ones(n)
        if self.scale_numeric:
            seen = self._numeric[:n] & (self._sq_n[:n] > 0)
            rms = np.sqrt(self._sq_sum[:n][seen] / self._sq_n[:n][seen])
            scale[seen] = 1.0 / np.maximum(rms, _MIN_RMS)
        return scale

    def _own_slot(self, offer_id: str) -> int:
        """The own model of an offer (created, at the prior, the first time it is learned)."""
        k = self._own_ids.get(offer_id)
        if k is not None:
            return k
        k = self._own_ids[offer_id] = len(self._own_ids)
        cap, dims = self._theta.shape
        if k >= cap:
            new_cap = max(8, 2 * cap)
            theta = np.zeros((new_cap, dims))
            theta[:cap] = self._theta
            cov = np.zeros((new_cap, dims, dims))
            cov[:cap] = self._cov
            cov[cap:] = np.eye(dims) * self.own_prior_variance
            self._set_own(theta, cov)
        return k

    def _widen_own(self, dims: int) -> None:
        """Widen every own model to ``dims`` context tokens (the new ones at the prior)."""
        old = self._theta.shape[1]
        cap = self._theta.shape[0]
        theta = np.zeros((cap, dims))
        theta[:, :old] = self._theta
        cov = np.zeros((cap, dims, dims))
        cov[:, :old, :old] = self._cov
        extra = np.arange(old, dims)
        cov[:, extra, extra] = self.own_prior_variance
        self._set_own(theta, cov)
        self.own_dims = dims

    @staticmethod
    def _lookup(
        tokens: Tokens, index: dict[str, int], *, add: bool
    ) -> tuple[list[int], list[float], float]:
        """Indices and values of known tokens (adds new ones if ``add``), unknowns' mass."""
        idx: list[int] = []
        values: list[float] = []
        unknown = 0.0
        get = index.get
        for token, value in tokens:
            i = get(token)
            if i is None:
                if not add:
                    unknown += value * value
                    continue
                i = index[token] = len(index)
            idx.append(i)
            values.append(value)
        if len(set(idx)) != len(idx):  # a repeated token (a list with duplicates): keep the first
            first: dict[int, float] = {}
            for i, value in zip(idx, values, strict=True):
                first.setdefault(i, value)
            idx, values = list(first), list(first.values())
        return idx, values, unknown

    # ------------------------------------------------------------------------------- learning

    def learn_one(self, x: Mapping[str, Any], y: bool, w: float = 1.0) -> None:
        context, offer = split_example(x)
        self.learn_pairs([context], [offer], [y], [w])

    def learn_pair(
        self, context: Mapping[str, Any], offer: dict[str, Any], y: bool, w: float = 1.0
    ) -> None:
        """``learn_one`` with the example already split (offer attributes without ``offer.``)."""
        self.learn_pairs([context], [offer], [y], [w])

    def _prepare(
        self, contexts: Sequence[Mapping[str, Any]]
    ) -> tuple[IntArray, FloatArray, IntArray, list[int]]:
        """Rows and normalised values of a batch's context tokens (concatenated, each context's
        together, bias first), the context each token is of, and the contexts' bounds."""
        rows: list[int] = []
        vals: list[float] = []
        features: list[int] = []
        values: list[float] = []
        cat_bounds = [0]
        num_bounds = [0]
        self._collision = False
        for context in contexts:
            self._context_rows(context, rows, vals, features, values)
            cat_bounds.append(len(rows))
            num_bounds.append(len(features))
        n = len(contexts)
        r = np.asarray(rows, dtype=np.intp)
        v = np.asarray(vals, dtype=np.float64)
        event = np.repeat(np.arange(n), np.diff(cat_bounds))
        if features:  # numeric features: the value token and the bucket token, vectorised
            f = np.asarray(features, dtype=np.intp)
            raw = np.asarray(values, dtype=np.float64)
            num_event = np.repeat(np.arange(n), np.diff(num_bounds))
            finite = np.isfinite(raw)
            if not finite.all():
                f, raw, num_event = f[finite], raw[finite], num_event[finite]
            magnitude = np.abs(raw)
            scaled = np.log1p(magnitude)
            scaled = np.where(raw >= 0, scaled, -scaled)
            # floor(log2(1 + |v|)) as features.encode computes it: the bit length of int(1 + |v|)
            bucket = np.frexp(np.floor(1.0 + magnitude))[1] - 1
            bucket_rows = self._bucket_rows(f, bucket)
            r = np.concatenate([r, self._num_row[f], bucket_rows])
            v = np.concatenate([v, scaled, np.ones(len(f))])
            event = np.concatenate([event, num_event, num_event])
            order = np.argsort(event, kind="stable")  # each context's tokens together, bias first
            r, v, event = r[order], v[order], event[order]
        if self._collision:
            key = event * len(self._rows) + r
            if len(np.unique(key)) != len(key):  # a token twice in one context: keep the first
                _, first = np.unique(key, return_index=True)
                first.sort()
                r, v, event = r[first], v[first], event[first]
        counts = np.bincount(event, minlength=n)
        bounds = [0, *np.cumsum(counts).tolist()]
        if self.scale_numeric:
            numeric = self._numeric[r]
            if numeric.any():
                np.add.at(self._sq_sum, r[numeric], v[numeric] ** 2)
                np.add.at(self._sq_n, r[numeric], 1.0)
                v = v * self._row_scale(len(self._rows))[r]
        norms = np.sqrt(np.add.reduceat(v * v, np.asarray(bounds[:-1], dtype=np.intp)))
        v = v / norms[event]
        return r, v, event, bounds

    def _bucket_rows(self, features: IntArray, buckets: IntArray) -> IntArray:
        """Rows of the bucket tokens ``name#b<k>`` (added if new: rare, so a Python loop)."""
        inside = buckets < _BUCKETS
        out = np.full(len(features), -1, dtype=np.intp)
        out[inside] = self._num_table[features[inside], buckets[inside]]
        for i in np.flatnonzero(out < 0).tolist():
            f, k = int(features[i]), int(buckets[i])
            row = self._row(f"{self._num_names[f]}#b{k}")
            if k < _BUCKETS:
                self._num_table[f, k] = row
            out[i] = row
        return out

    def learn_pairs(
        self,
        contexts: Sequence[Mapping[str, Any]],
        offers: Sequence[dict[str, Any]],
        ys: Sequence[bool],
        ws: Sequence[float] | None = None,
    ) -> None:
        """Learn a batch of outcomes, in order: as ``learn_pair`` on each, only faster.

        Token lookup, numeric scaling and normalisation are done for the whole batch first; the
        updates themselves stay sequential (each outcome sees the model its predecessors left).
        """
        n = len(contexts)
        if n == 0:
            return
        rows, xs, event, bounds = self._prepare(contexts)
        columns = [self._offer_columns(offer) for offer in offers]
        self._grow(len(self._rows), len(self._cols))
        width = self._w.shape[1]
        # every outcome's block of W (its context rows x its offer's columns) as flat indices
        # into the contiguous matrices, and the crosses' values, for the whole batch at once
        n_cols = np.fromiter((len(c[0]) for c in columns), dtype=np.intp, count=n)
        col_start = np.zeros(n, dtype=np.intp)
        np.cumsum(n_cols[:-1], out=col_start[1:])
        all_cols = np.concatenate([c[0] for c in columns])
        all_avs = np.concatenate([c[1] for c in columns])
        repeat = n_cols[event]  # each context token crosses its offer's columns
        size = int(repeat.sum())
        group_start = np.zeros(len(repeat), dtype=np.intp)
        np.cumsum(repeat[:-1], out=group_start[1:])
        j = np.arange(size) - np.repeat(group_start, repeat)
        pick = np.repeat(col_start[event], repeat) + j
        flat_all = np.repeat(rows * width, repeat) + all_cols[pick]
        cross_all = np.repeat(xs, repeat) * all_avs[pick]
        block = np.zeros(n + 1, dtype=np.intp)
        np.cumsum(np.diff(np.asarray(bounds, dtype=np.intp)) * n_cols, out=block[1:])
        cross_all[block[:-1]] = 0.0  # bias x bias is the intercept, learned apart
        square_all = cross_all * cross_all
        square_sums = np.add.reduceat(square_all, block[:-1]).tolist()
        blocks = block.tolist()

        use_own = self.own_dims > 0
        slots = [
            self._own_slot(str(offer["id"])) if use_own and "id" in offer else -1
            for offer in offers
        ]
        births = self._births
        for t, offer in enumerate(offers):
            offer_id = offer.get("id")
            if offer_id is not None and str(offer_id) not in births:
                births[str(offer_id)] = self._n_learned + t
        dims = self.own_dims
        if use_own:  # each context over the own dims, dense
            x_own = np.zeros((n, dims))
            sel = rows < dims
            x_own[event[sel], rows[sel]] = xs[sel]
        g = np.zeros(dims + 1)
        w_flat = self._w.reshape(-1)
        e_flat = self._evidence.reshape(-1)
        lr = self.learning_rate
        inv_prior = 1.0 / self.prior_variance
        max_precision = 1.0 / self.min_variance
        precondition = self.precondition
        for t in range(n):
            lo, hi = blocks[t], blocks[t + 1]
            flat = flat_all[lo:hi]
            cross = cross_all[lo:hi]
            w = 1.0 if ws is None else float(ws[t])
            weights = w_flat[flat]
            z = self._intercept + float(weights @ cross)
            k = slots[t]
            if k >= 0:
                xd = x_own[t]
                own = self._own[k]
                both = own @ xd  # Sigma x (the own posterior's answer along x), and theta . x
                u = both[:dims]
                v_own = float(xd @ u)
                z += float(both[dims])
            p = 1.0 / (1.0 + math.exp(-z))
            gradient = (p - float(bool(ys[t]))) * w  # d log-loss / d logit
            h = p * (1.0 - p) * w
            evidence = e_flat[flat]
            square = square_all[lo:hi]
            share = 1.0  # of the error the shared part corrects; the own part takes the rest
            if precondition:
                # give the error to the weights the model is least sure of (an offer's own,
                # rarely seen crosses) rather than evenly; the logit moves by lr * error
                variance = evidence + inv_prior
                np.minimum(variance, max_precision, out=variance)
                np.reciprocal(variance, out=variance)
                v_shared = float(square @ variance)
                if k >= 0:
                    share = v_shared / (v_shared + v_own)
                variance *= cross
                variance *= gradient * share * square_sums[t] / max(v_shared, 1e-12)
                step = variance
            else:
                step = gradient * cross
            if self.l2:
                step += self.l2 * weights
            step *= -lr
            step += weights
            w_flat[flat] = step
            self._intercept -= lr * 0.05 * gradient
            evidence += (h * (hi - lo - 1)) * square
            e_flat[flat] = evidence
            if k >= 0:
                # Kalman step of the offer's own model; its covariance loses the observed
                # direction (a rank-one update, in place)
                # own_step = (1.0 - share) * gradient / (1.0 + h * v_own)
                # theta -= lr * own_step * u;  Sigma -= u u' h / (1 + h v_own)
                damp = 1.0 / (1.0 + h * v_own)
                np.multiply(u, h * damp, out=g[:dims])
                g[dims] = lr * (1.0 - share) * gradient * damp
                own -= np.multiply.outer(g, u)
            if self.half_life:
                self._since_decay += 1
                if self._since_decay >= _DECAY_EVERY:
                    self._forget(self._since_decay)
                    self._since_decay = 0
        self._n_learned += n

    def _forget(self, outcomes: int) -> None:
        """Discount the evidence of ``outcomes`` outcomes ago (see the module docstring)."""
        assert self.half_life
        keep = 0.5 ** (outcomes / self.half_life)
        self._evidence *= keep
        n = len(self._own_ids)
        if n:
            cov = self._cov[:n]
            cov *= 1.0 / keep
            diag = np.diagonal(cov, axis1=1, axis2=2)
            scale = np.sqrt(np.minimum(1.0, self.own_prior_variance / diag))
            cov *= scale[:, :, None] * scale[:, None, :]

    def _variances(self, evidence: FloatArray) -> FloatArray:
        precision = np.minimum(1.0 / self.prior_variance + evidence, 1.0 / self.min_variance)
        result: FloatArray = 1.0 / precision
        return result

    def predict_proba_one(self, x: Mapping[str, Any]) -> float:
        """Calibrated acceptance probability: the logit's mean, damped by its uncertainty."""
        context, offer = split_example(x)
        ri, raw, x_unknown = self._lookup(encode(context), self._rows, add=False)
        rows = np.asarray(ri, dtype=np.intp)
        xs = np.asarray(raw) * self._row_scale(len(self._rows))[rows]
        norm_sq = float(xs @ xs) + x_unknown
        xs /= math.sqrt(norm_sq)
        x_unknown /= norm_sq
        ci, avs, a_unknown = self._lookup(self._encode_offer(offer), self._cols, add=False)
        block = np.ix_(rows, np.asarray(ci, dtype=np.intp))
        cross = np.outer(xs, avs)
        cross[0, 0] = 0.0
        mean = self._intercept + float((self._w[block] * cross).sum())
        x_known = float(np.dot(xs, xs))
        a_known = float(np.dot(avs, avs))
        var = float((self._variances(self._evidence[block]) * cross * cross).sum())
        var += self.prior_variance * (x_unknown * (a_known + a_unknown) + a_unknown * x_known)
        if self.own_dims > 0 and "id" in offer:
            xv = xs
            k = self._own_ids.get(str(offer["id"]))
            if k is None:  # never learned: its own terms are at the prior
                prior_x = xv[rows < self.own_dims]
                var += self.own_prior_variance * float(prior_x @ prior_x)
            else:
                sel = rows < self._theta.shape[1]
                od, ox = rows[sel], xv[sel]
                mean += float(self._theta[k, od] @ ox)
                var += float(ox @ self._cov[k][np.ix_(od, od)] @ ox)
        return 1.0 / (1.0 + math.exp(-mean / math.sqrt(1.0 + math.pi * var / 8.0)))

    def clone(self) -> BanditModel:
        """A fresh, unfitted model with the same parameters."""
        return BanditModel(
            learning_rate=self.learning_rate,
            prior_rate=self.prior_rate,
            prior_variance=self.prior_variance,
            min_variance=self.min_variance,
            l2=self.l2,
            precondition=self.precondition,
            own_dims=self.own_dims,
            own_prior_variance=self.own_prior_variance,
            half_life=self.half_life,
            scale_numeric=self.scale_numeric,
            novelty_variance=self.novelty_variance,
            novelty_outcomes=self.novelty_outcomes,
            sampling_scale=self.sampling_scale,
            seed=self.seed,
        )

    def copy(self) -> BanditModel:
        return copy.deepcopy(self)

    def export(self, version: int = 0) -> Snapshot:
        """Freeze the weights for vectorised serving (a copy: learning goes on meanwhile)."""
        rows, cols = len(self._rows), len(self._cols)
        variances = self._variances(self._evidence[:rows, :cols])
        variances[0, 0] = 0.0
        n = len(self._own_ids)
        dims = min(self.own_dims, rows)
        return Snapshot(
            version=version,
            intercept=self._intercept,
            prior_variance=self.prior_variance,
            n_learned=self._n_learned,
            row_index=dict(self._rows),
            col_index=dict(self._cols),
            weights=self._w[:rows, :cols].copy(),
            variances=variances,
            own_index=dict(self._own_ids),
            own_mean=self._theta[:n, :dims].copy(),
            own_cov=self._cov[:n, :dims, :dims].copy(),
            own_dims=self.own_dims,
            own_prior_variance=self.own_prior_variance,
            row_scale=self._row_scale(rows),
            births=dict(self._births),
            novelty_variance=self.novelty_variance,
            novelty_outcomes=self.novelty_outcomes,
            sampling_scale=self.sampling_scale,
        )
