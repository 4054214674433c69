"""The shared bilinear propensity model, learned online with its uncertainty, in numpy.

Why this shape: ``logit = b + sum_ij x_i * a_j * W_ij`` over the context tokens ``x`` and the offer
tokens ``a`` (its id, its attributes and a bias). The crosses with the offer's attributes are shared
by every offer that has them, so a new offer that looks like a known one starts from what is known;
the crosses with ``id=<offer>`` are its own and take over as evidence grows. The crosses with the
offer bias are the customer's general responsiveness, shared by all offers.

The mean is learned by SGD on log loss over the same crosses as river's ``LogisticRegression``
(:class:`models.river_model.RiverCrossModel`; with ``precondition=False`` the two agree to float
error, which the tests check). By default each weight's step is scaled by its posterior variance:
an error then corrects mostly the weights the model is least sure of (an offer's own crosses)
instead of nudging hundreds of shared ones equally, which is what lets a specific preference
(this segment likes that offer) be learned in hundreds rather than thousands of responses. One
update is a few small array operations on the block of ``W`` the event touches, instead of one
dict operation per cross, so one learner keeps up with thousands of outcomes per second. ``W``
is also exactly what the API workers serve with.

Beside the mean we keep a diagonal Laplace precision for every weight, so the model knows how
uncertain each score is; that is what Thompson sampling draws from. A purely diagonal posterior
over hundreds of small, normalised cross terms badly overstates uncertainty (each term sees only a
sliver of the signal), so each update adds ``h * c^2 * K`` (``K`` the number of active terms,
``h = p(1-p)``): for repeated identical inputs the score variance then falls like
``1 / (1/prior_variance + n h)``, as a full posterior would. The precision is capped
(``min_variance``) so the model never becomes certain and keeps enough exploration to notice drift.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from .features import OfferTokenCache, encode, split_example
from .snapshot import Snapshot

__all__ = ["BanditModel"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


class BanditModel:
    """Online propensity model for (customer, context, offer) with per-weight uncertainty.

    Parameters
    ----------
    learning_rate
        SGD step of the mean; features are L2-normalised so one step moves the logit by about
        ``learning_rate * error``.
    prior_rate
        Acceptance rate assumed before any evidence (the intercept's starting point).
    prior_variance
        Variance of the logit for a context/offer combination never seen.
    min_variance
        Floor on each weight's variance, so exploration never stops entirely.
    l2
        L2 penalty on the weights an update touches.
    precondition
        Scale each weight's step by its posterior variance (relative to the event's mean), so
        an error corrects mostly what the model is least sure of: an offer's own, rarely seen
        crosses learn fast while the well-established shared ones stay put. Off: plain SGD,
        exactly river's LogisticRegression.
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
        seed: int = 0,
    ) -> None:
        self.learning_rate = learning_rate
        self.prior_rate = prior_rate
        self.prior_variance = prior_variance
        self.min_variance = min_variance
        self.l2 = l2
        self.precondition = precondition
        self.seed = seed
        self._intercept = _logit(prior_rate)
        self._rows: dict[str, int] = {"1": 0}
        self._cols: dict[str, int] = {"1": 0}
        self._w = np.zeros((64, 16))
        self._evidence = np.zeros((64, 16))
        self._offer_tokens = OfferTokenCache()
        self._n_learned = 0

    @property
    def n_learned(self) -> int:
        return self._n_learned

    def _encode_offer(self, offer: dict[str, Any]) -> list[tuple[str, float]]:
        return self._offer_tokens(offer)

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

    @staticmethod
    def _lookup(
        tokens: list[tuple[str, float]], index: dict[str, int], *, add: bool
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

    def learn_one(self, x: Mapping[str, Any], y: bool, w: float = 1.0) -> None:
        context, offer = split_example(x)
        self.learn_pair(context, offer, y, w)

    def learn_pair(
        self, context: Mapping[str, Any], offer: dict[str, Any], y: bool, w: float = 1.0
    ) -> None:
        """``learn_one`` with the example already split (offer attributes without ``offer.``)."""
        ri, raw, _ = self._lookup(encode(context), self._rows, add=True)
        xs = np.asarray(raw)
        xs *= 1.0 / math.sqrt(float(xs @ xs))  # normalised here: every token is known now
        ci, avs, _ = self._lookup(self._encode_offer(offer), self._cols, add=True)
        self._grow(len(self._rows), len(self._cols))
        # the event's block of W as flat indices into the (contiguous) matrices: one gather, one
        # scatter each, instead of a fancy 2-d index per operation
        flat = (np.asarray(ri, dtype=np.intp)[:, None] * self._w.shape[1] + ci).ravel()
        cross = np.outer(xs, avs).ravel()
        cross[0] = 0.0  # bias x bias is the intercept, learned apart
        w_flat = self._w.reshape(-1)
        weights = w_flat[flat]
        p = 1.0 / (1.0 + math.exp(-(self._intercept + float(weights @ cross))))
        gradient = (p - float(bool(y))) * w  # d log-loss / d logit
        e_flat = self._evidence.reshape(-1)
        evidence = e_flat[flat]
        step = gradient * cross
        square = cross * cross
        if self.precondition:
            # give the error to the weights the model is least sure of (an offer's own, rarely
            # seen crosses) rather than evenly; the logit still moves by learning_rate * error
            variance = self._variances(evidence)
            step *= variance * (float(square.sum()) / max(float(square @ variance), 1e-12))
        w_flat[flat] = weights - self.learning_rate * (step + self.l2 * weights)
        self._intercept -= self.learning_rate * 0.05 * gradient
        e_flat[flat] = evidence + (p * (1.0 - p) * w * (cross.size - 1)) * square
        self._n_learned += 1

    def _variances(self, evidence: FloatArray) -> FloatArray:
        precision = np.minimum(1.0 / self.prior_variance + evidence, 1.0 / self.min_variance)
        result: FloatArray = 1.0 / precision
        return result

    def predict_proba_one(self, x: Mapping[str, Any]) -> float:
        """Calibrated acceptance probability: the logit's mean, damped by its uncertainty."""
        context, offer = split_example(x)
        ri, xs, x_unknown = self._lookup(encode(context, normalise=True), self._rows, add=False)
        ci, avs, a_unknown = self._lookup(self._encode_offer(offer), self._cols, add=False)
        block = np.ix_(np.asarray(ri, dtype=np.intp), np.asarray(ci, dtype=np.intp))
        cross = np.outer(xs, avs)
        cross[0, 0] = 0.0
        mean = self._intercept + float((self._w[block] * cross).sum())
        x_known = float(np.dot(xs, xs))
        a_known = float(np.dot(avs, avs))
        var = float((self._variances(self._evidence[block]) * cross * cross).sum())
        var += self.prior_variance * (x_unknown * (a_known + a_unknown) + a_unknown * x_known)
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
            seed=self.seed,
        )

    def copy(self) -> BanditModel:
        return copy.deepcopy(self)

    def export(self, version: int = 0) -> Snapshot:
        """Freeze the weights for vectorised serving (a copy: learning goes on meanwhile)."""
        rows, cols = len(self._rows), len(self._cols)
        variances = self._variances(self._evidence[:rows, :cols])
        variances[0, 0] = 0.0
        return Snapshot(
            version=version,
            intercept=self._intercept,
            prior_variance=self.prior_variance,
            n_learned=self._n_learned,
            row_index=dict(self._rows),
            col_index=dict(self._cols),
            weights=self._w[:rows, :cols].copy(),
            variances=variances,
        )
