"""Frozen model weights as dense numpy arrays: what API workers load and score with.

Learning happens in river (dict weights, one example at a time); serving scores a whole catalogue
per request, so the learner exports the weights into a matrix ``W`` (context tokens x offer tokens)
and a matrix ``V`` of per-weight variances. Scoring ``n`` offers is then two small matrix-vector
products: ``mean = b + A @ (x @ W[rows])`` and ``var = A**2 @ (x**2 @ V[rows])``. Each offer's
own part (mean ``theta_o`` and full covariance ``S_o`` over the first context tokens) adds
``theta_o . x`` and ``x' S_o x``, for all offers in one gather and one ``einsum``.

Snapshots serialise with ``numpy.savez`` and JSON (no pickle), so a worker can load one from Redis
without trusting code in it.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .features import BIAS, ContextLookup, encode_offer, split_example

__all__ = ["OfferMatrix", "Snapshot"]

FloatArray = npt.NDArray[np.float64]


@functools.cache
def _upper(dims: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Row and column of each entry of a ``dims`` x ``dims`` upper triangle (diagonal in)."""
    upper_i, upper_j = np.triu_indices(dims)
    return upper_i.astype(np.intp), upper_j.astype(np.intp)


@dataclass(frozen=True, slots=True)
class OfferMatrix:
    """The offers of a catalogue encoded once against one snapshot's token index."""

    offer_ids: tuple[str, ...]
    values: FloatArray
    """(n_offers, n_cols) normalised token values of each offer over the snapshot's columns."""
    unknown_sq: FloatArray
    """(n_offers,) squared norm of each offer's tokens that the snapshot has never seen."""
    own: npt.NDArray[np.intp] = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    """(n_offers,) each offer's own model in the snapshot, -1 for none (never learned)."""
    novelty: FloatArray = field(default_factory=lambda: np.zeros(0))
    """(n_offers,) variance added to each offer's logit when exploring, not when estimating
    (:meth:`Snapshot.novelty`); empty: none."""
    sampling_scale: float = 1.0
    """Factor on the model's variance when exploring (:attr:`Snapshot.sampling_scale`)."""
    # derived once per matrix (the funnel keeps a channel's matrix per snapshot): every score
    # needs them
    values_sq: FloatArray = field(init=False, repr=False, compare=False)
    """``values ** 2``."""
    known_sq: FloatArray = field(init=False, repr=False, compare=False)
    """(n_offers,) squared norm of each offer's known tokens (``values_sq`` summed by row)."""
    own_at: npt.NDArray[np.intp] = field(init=False, repr=False, compare=False)
    """``own`` with 0 for the offers that have none (a safe index; masked by ``learned``)."""
    learned: FloatArray = field(init=False, repr=False, compare=False)
    """1.0 for an offer with an own model, else 0.0."""
    new: FloatArray = field(init=False, repr=False, compare=False)
    """1.0 for an offer without an own model, else 0.0."""
    some_own: bool = field(init=False, repr=False, compare=False)
    some_new: bool = field(init=False, repr=False, compare=False)
    shared: npt.NDArray[np.intp] = field(init=False, repr=False, compare=False)
    """The columns (offer tokens) that two or more of these offers have: the offer bias, the
    attributes. The others (an offer's own id) concern one offer each."""

    def __post_init__(self) -> None:
        values_sq = self.values * self.values
        learned = self.own >= 0
        set_ = object.__setattr__
        set_(self, "values_sq", values_sq)
        set_(self, "known_sq", values_sq.sum(axis=1))
        set_(self, "own_at", np.where(learned, self.own, 0).astype(np.intp))
        set_(self, "learned", learned.astype(np.float64))
        set_(self, "new", (~learned).astype(np.float64))
        set_(self, "some_own", bool(learned.any()))
        set_(self, "some_new", not bool(learned.all()))
        set_(self, "shared", np.flatnonzero((self.values != 0.0).sum(axis=0) >= 2))

    def __len__(self) -> int:
        return len(self.offer_ids)

    def take(self, indices: Sequence[int] | npt.NDArray[np.intp]) -> OfferMatrix:
        """The sub-matrix of some offers, e.g. the eligible ones."""
        idx = np.asarray(indices, dtype=np.intp)
        return OfferMatrix(
            offer_ids=tuple(self.offer_ids[i] for i in idx),
            values=self.values[idx],
            unknown_sq=self.unknown_sq[idx],
            own=self.own[idx],
            novelty=self.novelty[idx] if len(self.novelty) else self.novelty,
            sampling_scale=self.sampling_scale,
        )

    def exploring(self, var: FloatArray) -> FloatArray:
        """The variances Thompson sampling draws from: the model's times ``sampling_scale``,
        plus the offers' novelty (``var`` is (offers,) or (decisions, offers))."""
        result: FloatArray = var
        if self.sampling_scale != 1.0:
            result = result * self.sampling_scale
        if len(self.novelty):
            result = result + self.novelty
        return result


@dataclass(frozen=True, slots=True, eq=False)
class Snapshot:
    """An immutable, versioned export of a :class:`~models.BanditModel`."""

    version: int
    intercept: float
    prior_variance: float
    n_learned: int
    row_index: Mapping[str, int]
    col_index: Mapping[str, int]
    weights: FloatArray
    variances: FloatArray
    learning: Mapping[str, Any] = field(default_factory=dict)
    """What the learner measured of the served propensities (AUC, calibration)."""
    own_index: Mapping[str, int] = field(default_factory=dict)
    """Offer id -> its own model (row of ``own_mean``)."""
    own_mean: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    """(offers, dims) own weights over the context tokens with row index < dims."""
    own_cov: FloatArray = field(default_factory=lambda: np.zeros((0, 0, 0)))
    """(offers, dims, dims) covariance of each offer's own weights."""
    own_dims: int = 0
    """Context tokens (row index below it) an own model covers; an offer with none: the prior."""
    own_prior_variance: float = 0.0
    row_scale: FloatArray = field(default_factory=lambda: np.zeros(0))
    """(context tokens,) factor on each token's value before normalising (numerics: 1 / their
    running RMS); empty: all 1."""
    births: Mapping[str, int] = field(default_factory=dict)
    """Offer id -> outcomes the model had learned before its first outcome."""
    novelty_variance: float = 0.0
    """Exploration variance of an offer that arrives in an established model (0: none)."""
    novelty_outcomes: float = 1000.0
    """Outcomes over which an offer's novelty fades (by a factor e)."""
    sampling_scale: float = 1.0
    """Factor on the model's variance in Thompson sampling's draws (see
    :class:`models.BanditModel`); 1: the posterior as it is."""
    own_packed: FloatArray = field(init=False, repr=False, compare=False)
    """(offers, dims (dims + 1) / 2) each own covariance's upper triangle, off-diagonal terms
    doubled: ``x' S_o x`` is it dotted with the same triangle of ``outer(x, x)``. Half the
    memory a decision streams through: the covariances are the biggest array it reads (745 kB
    for 91 offers of 32 dims), and reading them all evicted the rest of the decision's data
    from the cache (scoring then choosing cost 50 µs more than the two apart)."""

    lookup: ContextLookup = field(init=False, repr=False, compare=False)
    """The context tokens' rows, cached per feature and value (see :class:`ContextLookup`)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "lookup", ContextLookup(self.row_index))
        dims = self.own_cov.shape[1] if self.own_cov.ndim == 3 else 0
        upper_i, upper_j = _upper(dims)
        doubled = np.where(upper_i == upper_j, 1.0, 2.0)
        packed = np.ascontiguousarray(self.own_cov[:, upper_i, upper_j] * doubled)
        object.__setattr__(self, "own_packed", packed)

    @classmethod
    def empty(cls, *, prior_rate: float = 0.05, prior_variance: float = 1.0) -> Snapshot:
        """The snapshot of a model that has learned nothing yet."""
        return cls.from_weights(
            version=0,
            intercept=float(np.log(prior_rate / (1 - prior_rate))),
            weights={},
            precision={},
            prior_variance=prior_variance,
            n_learned=0,
        )

    @classmethod
    def from_weights(
        cls,
        *,
        version: int,
        intercept: float,
        weights: Mapping[tuple[str, str], float],
        precision: Mapping[tuple[str, str], float],
        prior_variance: float,
        n_learned: int,
    ) -> Snapshot:
        rows: dict[str, int] = {BIAS: 0}
        cols: dict[str, int] = {BIAS: 0}
        for i, j in precision:
            rows.setdefault(i, len(rows))
            cols.setdefault(j, len(cols))
        for i, j in weights:
            rows.setdefault(i, len(rows))
            cols.setdefault(j, len(cols))
        w = np.zeros((len(rows), len(cols)))
        v = np.full((len(rows), len(cols)), prior_variance)
        for (i, j), value in weights.items():
            w[rows[i], cols[j]] = value
        for (i, j), q in precision.items():
            v[rows[i], cols[j]] = 1.0 / q
        v[0, 0] = 0.0  # bias x bias is the intercept, learned separately
        return cls(
            version=version,
            intercept=intercept,
            prior_variance=prior_variance,
            n_learned=n_learned,
            row_index=rows,
            col_index=cols,
            weights=w,
            variances=v,
        )

    def encode_offers(self, offers: Sequence[Mapping[str, Any]]) -> OfferMatrix:
        """Encode offers given as ``offer.``-prefixed dicts (or attribute dicts with ``id``)."""
        ids: list[str] = []
        own = np.full(len(offers), -1, dtype=np.intp)
        values = np.zeros((len(offers), len(self.col_index)))
        unknown = np.zeros(len(offers))
        for n, offer in enumerate(offers):
            _, attrs = split_example(offer)
            if not attrs:
                attrs = dict(offer)
            ids.append(str(attrs.get("id")))
            if "id" in attrs:
                own[n] = self.own_index.get(str(attrs["id"]), -1)
            for token, value in encode_offer(attrs):
                col = self.col_index.get(token)
                if col is None:
                    unknown[n] += value * value
                else:
                    values[n, col] = value
        return OfferMatrix(
            offer_ids=tuple(ids),
            values=values,
            unknown_sq=unknown,
            own=own,
            novelty=self.novelty(ids) if self.novelty_variance > 0 else np.zeros(0),
            sampling_scale=self.sampling_scale,
        )

    def novelty(self, offer_ids: Sequence[str]) -> FloatArray:
        """Each offer's extra exploration variance: ``novelty_variance`` times how established
        the model was when the offer arrived (``1 - exp(-birth / tau)``) times how little time
        it has had since (``exp(-age / tau)``), ages and births counted in outcomes learned
        (``tau`` = ``novelty_outcomes``); an offer not learned yet is arriving now.

        Why. A new offer starts from what its attributes predict, with the uncertainty of its
        own terms at their prior. When the attributes predict it badly for a segment it is in
        fact best for, Thompson sampling tries it there about as often as its posterior says it
        could win: measured on ``bench/simulate.py`` (seed 1, four seeds of the draws), in one
        run of four its mean for that segment sat 1.8 logits under the best offer's with a
        standard deviation of 0.95, it was shown 7 times in 5,000 of the segment's decisions,
        and it reached half of the segment only 12,103 decisions after it arrived. The posterior
        is right about the attributes and overconfident about a newcomer's own appeal, which
        one static prior cannot fix without slowing the start (every offer is new then: see
        :class:`models.BanditModel`). So the boost is for newcomers only: at a cold start
        (birth 0) there is none, and it fades as the model goes on learning, whether the offer
        is shown or not, so an offer rarely shown because it is poor is not kept on trial.
        """
        n = float(self.n_learned)
        tau = self.novelty_outcomes
        birth = np.array([self.births.get(i, n) for i in offer_ids], dtype=np.float64)
        age = n - birth
        result: FloatArray = (
            self.novelty_variance * np.exp(-age / tau) * (1.0 - np.exp(-birth / tau))
        )
        return result

    def score(
        self, context: Mapping[str, Any], offers: OfferMatrix
    ) -> tuple[FloatArray, FloatArray]:
        """Mean and variance of the acceptance logit of each offer for this context."""
        mean, var, _ = self._moments(context, offers)
        return mean, var

    def score_joint(
        self, context: Mapping[str, Any], offers: OfferMatrix
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """:meth:`score`, and a factor ``F`` of how the offers' logits vary *together*.

        Offers share crosses (every one has the offer bias, several the same category), so
        their logits are not independent: their covariance is ``F F' + diag(var - rowsum(F**2))``
        with ``F = values[:, shared] * sqrt(s[shared])`` (one column per offer token that two
        or more offers have; ``s`` the crosses' variances summed over the context). What only
        one offer has (its id, its own part) stays in the independent rest. Thompson sampling
        draws from this joint posterior (:class:`~models.ThompsonPolicy`): a term every offer
        shares then moves them all together and does not scramble their order at random.
        """
        mean, var, s = self._moments(context, offers)
        shared = offers.shared
        factor: FloatArray = offers.values[:, shared] * np.sqrt(s[shared])
        return mean, var, factor

    def _moments(
        self, context: Mapping[str, Any], offers: OfferMatrix
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Mean and variance of each offer's logit, and ``s``: per column (offer token), the
        variance of its crosses with this context, ``sum_i x_i^2 V_ij``."""
        rows: list[int] = []
        xs: list[float] = []
        unknown_sq = self.lookup.entries(context, rows, xs)
        x = np.asarray(xs, dtype=np.float64)
        # one index array for the three gathers (a list would be converted by each)
        at = np.asarray(rows, dtype=np.intp)
        if len(self.row_scale):
            x *= self.row_scale.take(at)
        norm_sq = float(x @ x) + unknown_sq
        x /= np.sqrt(norm_sq)
        unknown_sq /= norm_sq
        u = x @ self.weights.take(at, axis=0)
        s = (x * x) @ self.variances.take(at, axis=0)
        mean = self.intercept + offers.values @ u
        known_sq = float(x @ x)
        # terms with a token never seen on either side carry the prior variance
        var = offers.values_sq @ s + self.prior_variance * (
            offers.unknown_sq * known_sq + unknown_sq * (offers.known_sq + offers.unknown_sq)
        )
        if self.own_dims > 0 and len(offers.own):
            self._score_own(at, x, offers, mean, var)
        return mean, var, s

    def score_batch(
        self, contexts: Sequence[Mapping[str, Any]], offers: OfferMatrix
    ) -> tuple[FloatArray, FloatArray]:
        """:meth:`score` for several contexts at once: (contexts, offers) means and variances.

        The same sums as :meth:`score`, with the contexts stacked as rows of a dense matrix, so
        that the products are a few matrix-matrix products, not a few dozen small numpy calls
        per context: decisions that reach scoring together are scored together
        (:class:`decisioning.batching.ArbitrationBatch`). A token met twice in one context
        counts as in :meth:`score`: its values add in the mean, its squares in the variance.
        """
        n_ctx, n_rows = len(contexts), len(self.row_index)
        rows: list[int] = []
        xs: list[float] = []
        unknown = np.empty(n_ctx)
        counts = np.empty(n_ctx, dtype=np.intp)
        entries = self.lookup.entries
        for b, context in enumerate(contexts):
            before = len(rows)
            unknown[b] = entries(context, rows, xs)
            counts[b] = len(rows) - before
        token_rows = np.asarray(rows, dtype=np.intp)
        x = np.asarray(xs, dtype=np.float64)
        if len(self.row_scale):
            x *= self.row_scale.take(token_rows)
        # each context's tokens in its own block of the (contexts x tokens) dense matrix
        at = token_rows + np.repeat(np.arange(n_ctx, dtype=np.intp) * n_rows, counts)
        size = n_ctx * n_rows
        dense: FloatArray = np.bincount(at, weights=x, minlength=size).astype(np.float64)
        dense = dense.reshape(n_ctx, n_rows)
        dense_sq: FloatArray = np.bincount(at, weights=x * x, minlength=size).astype(np.float64)
        dense_sq = dense_sq.reshape(n_ctx, n_rows)
        norm_sq = dense_sq.sum(axis=1) + unknown
        dense /= np.sqrt(norm_sq)[:, None]
        dense_sq /= norm_sq[:, None]
        unknown /= norm_sq
        known_sq = dense_sq.sum(axis=1)
        mean: FloatArray = self.intercept + (dense @ self.weights) @ offers.values.T
        var: FloatArray = (dense_sq @ self.variances) @ offers.values_sq.T
        var += self.prior_variance * (
            known_sq[:, None] * offers.unknown_sq[None, :]
            + unknown[:, None] * (offers.known_sq + offers.unknown_sq)[None, :]
        )
        if self.own_dims > 0 and len(offers.own):
            if offers.some_new:  # never learned: the own terms are at the prior
                prior = self.own_prior_variance * dense_sq[:, : self.own_dims].sum(axis=1)
                var += prior[:, None] * offers.new[None, :]
            if offers.some_own:
                dims = self.own_mean.shape[1]
                xo = dense[:, :dims]
                upper_i, upper_j = _upper(dims)
                outer = xo.take(upper_i, axis=1) * xo.take(upper_j, axis=1)
                k = offers.own_at
                # every own model's term, then each offer's (no copy of the covariances)
                quad = (outer @ self.own_packed.T).take(k, axis=1)
                lin = (xo @ self.own_mean.T).take(k, axis=1)
                if offers.some_new:
                    lin *= offers.learned
                    quad *= offers.learned
                mean += lin
                var += quad
        return mean, var

    def _score_own(
        self,
        rows: npt.NDArray[np.intp],
        x: FloatArray,
        offers: OfferMatrix,
        mean: FloatArray,
        var: FloatArray,
    ) -> None:
        """Add each offer's own part to ``mean`` and ``var`` (in place), vectorised.

        The context over the own dims is made one dense vector ``xo`` (zero where a token is
        absent; a token met twice adds up), so ``theta_o . x`` is ``own_mean @ xo`` and
        ``x' S_o x`` is each flattened ``S_o`` dotted with the flattened ``outer(xo, xo)``: the
        same sums as gathering each offer's ``S_o[present, present]`` block, without the
        gather (which cost most of a decision's scoring time, bench/decision_cpu.py). Offers
        without an own model get the prior term, the others theirs, through the masks the
        offer matrix holds (adding ``0.0`` where a term does not apply changes nothing).
        """
        if offers.some_new:  # never learned: the own terms are at the prior
            x_prior = x[rows < self.own_dims]
            var += (self.own_prior_variance * float(x_prior @ x_prior)) * offers.new
        if not offers.some_own:
            return
        dims = self.own_mean.shape[1]
        sel = rows < dims
        xo = np.bincount(rows[sel], weights=x[sel], minlength=dims)
        k = offers.own_at
        n_own = len(self.own_cov)
        if 4 * len(k) < n_own:  # a few offers among many own models: only theirs
            packed, means = self.own_packed.take(k, axis=0), self.own_mean.take(k, axis=0)
            k = np.arange(len(k))
        else:  # all of them, then pick (no copy)
            packed, means = self.own_packed, self.own_mean
        upper_i, upper_j = _upper(dims)
        quad = packed @ (xo.take(upper_i) * xo.take(upper_j))
        lin = means @ xo
        if offers.some_new:
            mean += lin.take(k) * offers.learned
            var += quad.take(k) * offers.learned
        else:
            mean += lin.take(k)
            var += quad.take(k)

    def drivers(self, offer: Mapping[str, Any], top: int = 5) -> list[tuple[str, float]]:
        """The context tokens that most move this offer's acceptance logit, with their weights.

        The effective weight of a context token for an offer sums its crosses with all of the
        offer's tokens (its own id and the attributes it shares with others), so the drivers
        reflect what the model really uses for that offer.
        """
        encoded = self.encode_offers([offer])
        a = encoded.values[0]
        effect = self.weights @ a
        k = int(encoded.own[0])
        if k >= 0:  # the offer's own weights, on the tokens they cover
            m = min(self.own_mean.shape[1], len(effect))
            effect[:m] += self.own_mean[k, :m]
        tokens = sorted(self.row_index, key=self.row_index.__getitem__)
        order = np.argsort(-np.abs(effect), kind="stable")
        return [(tokens[i], float(effect[i])) for i in order[:top] if effect[i] != 0.0]

    @staticmethod
    def calibrated(mean: FloatArray, var: FloatArray) -> FloatArray:
        """Probability of acceptance integrating over the logit's uncertainty (probit approx.)."""
        result: FloatArray = 1.0 / (1.0 + np.exp(-mean / np.sqrt(1.0 + np.pi * var / 8.0)))
        return result

    def to_bytes(self) -> bytes:
        meta = {
            "version": self.version,
            "intercept": self.intercept,
            "prior_variance": self.prior_variance,
            "n_learned": self.n_learned,
            "rows": sorted(self.row_index, key=self.row_index.__getitem__),
            "cols": sorted(self.col_index, key=self.col_index.__getitem__),
            "learning": dict(self.learning),
            "own_ids": sorted(self.own_index, key=self.own_index.__getitem__),
            "own_dims": self.own_dims,
            "own_prior_variance": self.own_prior_variance,
            "births": dict(self.births),
            "novelty_variance": self.novelty_variance,
            "novelty_outcomes": self.novelty_outcomes,
            "sampling_scale": self.sampling_scale,
        }
        buf = io.BytesIO()
        np.savez(
            buf,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            weights=self.weights.astype(np.float32),
            variances=self.variances.astype(np.float32),
            own_mean=self.own_mean.astype(np.float32),
            own_cov=self.own_cov.astype(np.float32),
            row_scale=self.row_scale.astype(np.float32),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Snapshot:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            meta = json.loads(arrays["meta"].tobytes().decode())
            weights = arrays["weights"].astype(np.float64)
            variances = arrays["variances"].astype(np.float64)
            files = set(arrays.files)
            own_mean = (
                arrays["own_mean"].astype(np.float64) if "own_mean" in files else np.zeros((0, 0))
            )
            own_cov = (
                arrays["own_cov"].astype(np.float64) if "own_cov" in files else np.zeros((0, 0, 0))
            )
            row_scale = (
                arrays["row_scale"].astype(np.float64) if "row_scale" in files else np.zeros(0)
            )
        return cls(
            version=int(meta["version"]),
            intercept=float(meta["intercept"]),
            prior_variance=float(meta["prior_variance"]),
            n_learned=int(meta["n_learned"]),
            row_index={t: n for n, t in enumerate(meta["rows"])},
            col_index={t: n for n, t in enumerate(meta["cols"])},
            weights=weights,
            variances=variances,
            learning=meta.get("learning") or {},
            own_index={t: n for n, t in enumerate(meta.get("own_ids", []))},
            own_mean=own_mean,
            own_cov=own_cov,
            own_dims=int(meta.get("own_dims", 0)),
            own_prior_variance=float(meta.get("own_prior_variance", 0.0)),
            row_scale=row_scale,
            births={str(k): int(v) for k, v in (meta.get("births") or {}).items()},
            novelty_variance=float(meta.get("novelty_variance", 0.0)),
            novelty_outcomes=float(meta.get("novelty_outcomes", 1000.0)),
            sampling_scale=float(meta.get("sampling_scale", 1.0)),
        )
