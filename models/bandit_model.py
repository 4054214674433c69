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

Learning is one extended-Kalman (Laplace/ADF) step per outcome on the logistic likelihood: the
error ``y - p`` is shared between the two parts in proportion to their predictive variances
(``v_shared``, ``v_own``), each moving the logit by ``(y - p) v / (1 + h v_total)`` with
``h = p(1-p)``. So an error corrects mostly what the model is least sure of: a new offer's own
terms move fast while the well-established shared crosses stay put, and steps shrink like ``1/n``
as evidence grows (where plain SGD keeps a fixed step and keeps jittering). With
``precondition=False`` and no own part the shared part is plain SGD on log loss over the same
crosses as river's ``LogisticRegression`` (:class:`models.river_model.RiverCrossModel`); the two
agree to float error, which the tests check.

Diagonal precision of the shared part: a purely diagonal posterior over hundreds of small,
normalised cross terms badly overstates uncertainty (each term sees only a sliver of the signal),
so each update adds ``h * c^2 * K`` (``K`` the number of active terms): for repeated identical
inputs the score variance then falls like ``1 / (1/prior_variance + n h)``, as a full posterior
would. It is floored at ``min_variance``.

Forgetting. Acceptance drifts (tastes, seasons, competitors' offers), so evidence is discounted
with a half-life counted in outcomes (``half_life``): every precision decays towards the prior
(the own covariances are inflated, then capped at the prior by a diagonal rescaling, which keeps
them positive definite). The means are not decayed, only the confidence in them: after a drift,
exploration comes back where evidence is old and new outcomes move the means quickly again.
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

_DECAY_EVERY = 512
"""Outcomes between two applications of the forgetting (one vectorised pass over all weights,
own covariances included: about 1 ms with 50 offers, so not after every outcome)."""


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
        model; 0 turns the own part off.
    own_prior_variance
        Prior variance of each own weight.
    half_life
        Outcomes after which old evidence counts half (``None``: never forget).
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
        own_dims: int = 96,
        own_prior_variance: float = 0.1,
        half_life: float | None = 20000.0,
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
        self.seed = seed
        self._intercept = _logit(prior_rate)
        self._rows: dict[str, int] = {"1": 0}
        self._cols: dict[str, int] = {"1": 0}
        self._w = np.zeros((64, 16))
        self._evidence = np.zeros((64, 16))
        self._offer_tokens = OfferTokenCache()
        self._n_learned = 0
        self._own_ids: dict[str, int] = {}
        self._theta = np.zeros((0, 0))
        self._cov = np.zeros((0, 0, 0))
        self._since_decay = 0
        self._offer_cols: dict[int, tuple[list[tuple[str, float]], list[int], list[float]]] = {}
        """id of an offer's cached tokens -> (those tokens, their columns, values); the tokens
        are kept so the id cannot be reused by another list while the entry lives."""

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_offer_cols"] = {}  # keyed by object ids: meaningless in another process
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Checkpoints of the model before the own part and forgetting load as such a model."""
        defaults: dict[str, Any] = {
            "own_dims": 0,
            "own_prior_variance": 1.0,
            "half_life": None,
            "_own_ids": {},
            "_theta": np.zeros((0, 0)),
            "_cov": np.zeros((0, 0, 0)),
            "_since_decay": 0,
        }
        state = state | {"_offer_cols": {}}
        self.__dict__.update(defaults | state)

    @property
    def n_learned(self) -> int:
        return self._n_learned

    def _encode_offer(self, offer: dict[str, Any]) -> list[tuple[str, float]]:
        return self._offer_tokens(offer)

    def _offer_columns(self, offer: dict[str, Any]) -> tuple[list[int], list[float]]:
        """The offer's columns and values (adding its new tokens); offers repeat: cached."""
        tokens = self._encode_offer(offer)
        cached = self._offer_cols.get(id(tokens))
        if cached is not None and cached[0] is tokens:
            return cached[1], cached[2]
        ci, avs, _ = self._lookup(tokens, self._cols, add=True)
        if len(self._offer_cols) >= 10_000:
            self._offer_cols.clear()
        self._offer_cols[id(tokens)] = (tokens, ci, avs)
        return ci, avs

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
            self._theta, self._cov = theta, cov
        return k

    def _grow_own(self, rows: int) -> None:
        """Widen every own model to ``rows`` context tokens (new ones at the prior)."""
        dims = self._theta.shape[1]
        want = min(self.own_dims, rows)
        if want <= dims:
            return
        new_dims = min(self.own_dims, max(want, 1 << (want - 1).bit_length()))
        cap = self._theta.shape[0]
        theta = np.zeros((cap, new_dims))
        theta[:, :dims] = self._theta
        cov = np.zeros((cap, new_dims, new_dims))
        cov[:, :dims, :dims] = self._cov
        extra = np.arange(dims, new_dims)
        cov[:, extra, extra] = self.own_prior_variance
        self._theta, self._cov = theta, cov

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
        rows = np.asarray(ri, dtype=np.intp)
        xs = np.asarray(raw)
        xs *= 1.0 / math.sqrt(float(xs @ xs))  # normalised here: every token is known now
        ci, avs = self._offer_columns(offer)
        self._grow(len(self._rows), len(self._cols))
        # the event's block of W as flat indices into the (contiguous) matrices: one gather, one
        # scatter each, instead of a fancy 2-d index per operation
        flat = (rows[:, None] * self._w.shape[1] + ci).ravel()
        cross = np.outer(xs, avs).ravel()
        cross[0] = 0.0  # bias x bias is the intercept, learned apart
        w_flat = self._w.reshape(-1)
        weights = w_flat[flat]
        z = self._intercept + float(weights @ cross)
        own = self.own_dims > 0 and "id" in offer
        if own:
            self._grow_own(len(self._rows))
            k = self._own_slot(str(offer["id"]))
            sel = rows < self._theta.shape[1]
            od, ox = rows[sel], xs[sel]
            cov = self._cov[k]
            u = cov[:, od] @ ox  # Sigma x: the own posterior's answer along this context
            v_own = float(ox @ u[od])
            z += float(self._theta[k, od] @ ox)
        p = 1.0 / (1.0 + math.exp(-z))
        gradient = (p - float(bool(y))) * w  # d log-loss / d logit
        h = p * (1.0 - p) * w
        e_flat = self._evidence.reshape(-1)
        evidence = e_flat[flat]
        square = cross * cross
        share = 1.0  # of the error the shared part corrects; the own part takes the rest
        if self.precondition:
            # give the error to the weights the model is least sure of (an offer's own, rarely
            # seen crosses) rather than evenly; the logit moves by learning_rate * error
            variance = self._variances(evidence)
            v_shared = float(square @ variance)
            if own:
                share = v_shared / (v_shared + v_own)
            step = variance * (gradient * share * float(square.sum()) / max(v_shared, 1e-12))
            step *= cross
        else:
            step = gradient * cross
        w_flat[flat] = weights - self.learning_rate * (step + self.l2 * weights)
        self._intercept -= self.learning_rate * 0.05 * gradient
        e_flat[flat] = evidence + (h * (cross.size - 1)) * square
        if own:
            # Kalman step of the offer's own model; its covariance loses the observed direction
            own_step = (1.0 - share) * gradient / (1.0 + h * v_own)
            self._theta[k] -= self.learning_rate * own_step * u
            cov -= np.outer(u, u * (h / (1.0 + h * v_own)))
        self._n_learned += 1
        if self.half_life:
            self._since_decay += 1
            if self._since_decay >= _DECAY_EVERY:
                self._forget(self._since_decay)
                self._since_decay = 0

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
        ri, xs, x_unknown = self._lookup(encode(context, normalise=True), self._rows, add=False)
        ci, avs, a_unknown = self._lookup(self._encode_offer(offer), self._cols, add=False)
        rows = np.asarray(ri, dtype=np.intp)
        block = np.ix_(rows, np.asarray(ci, dtype=np.intp))
        cross = np.outer(xs, avs)
        cross[0, 0] = 0.0
        mean = self._intercept + float((self._w[block] * cross).sum())
        x_known = float(np.dot(xs, xs))
        a_known = float(np.dot(avs, avs))
        var = float((self._variances(self._evidence[block]) * cross * cross).sum())
        var += self.prior_variance * (x_unknown * (a_known + a_unknown) + a_unknown * x_known)
        if self.own_dims > 0 and "id" in offer:
            xv = np.asarray(xs)
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
        dims = self._theta.shape[1] if self.own_dims > 0 else 0
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
        )
