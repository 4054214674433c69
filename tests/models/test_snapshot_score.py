"""``Snapshot.score`` against a plain, offer-by-offer reference of the same sums.

The vectorised scorer is rewritten for speed now and then (bench/decision_cpu.py); this holds it
to the definition: ``mean = b + x' W a + theta_o . x`` and ``var = (x*x)' V (a*a) + x' S_o x``
plus the prior terms of tokens never seen, with the context ``x`` as ``encode`` makes it
(duplicate tokens, unknown tokens, rescaled numerics, tokens beyond the own dims).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from models import OfferMatrix, Snapshot
from models.features import encode


def _reference(
    snapshot: Snapshot, context: Mapping[str, Any], offers: OfferMatrix
) -> tuple[list[float], list[float]]:
    tokens = encode(context)
    known = [(snapshot.row_index[t], v) for t, v in tokens if t in snapshot.row_index]
    unknown_sq = sum(v * v for t, v in tokens if t not in snapshot.row_index)
    if len(snapshot.row_scale):
        known = [(r, v * float(snapshot.row_scale[r])) for r, v in known]
    norm_sq = sum(v * v for _, v in known) + unknown_sq
    known = [(r, v / math.sqrt(norm_sq)) for r, v in known]
    unknown_sq /= norm_sq
    known_sq = sum(v * v for _, v in known)
    dims = snapshot.own_mean.shape[1] if snapshot.own_mean.ndim == 2 else 0
    means, variances = [], []
    for n in range(len(offers)):
        a = offers.values[n]
        mean = snapshot.intercept
        var = 0.0
        for r, x in known:
            for c, av in enumerate(a):
                mean += x * snapshot.weights[r, c] * av
                var += x * x * snapshot.variances[r, c] * av * av
        a_sq = float(sum(av * av for av in a))
        var += snapshot.prior_variance * (
            offers.unknown_sq[n] * known_sq + unknown_sq * (a_sq + offers.unknown_sq[n])
        )
        if snapshot.own_dims > 0:
            k = int(offers.own[n])
            if k < 0:
                var += snapshot.own_prior_variance * sum(
                    x * x for r, x in known if r < snapshot.own_dims
                )
            else:
                mine = [(r, x) for r, x in known if r < dims]
                mean += sum(snapshot.own_mean[k, r] * x for r, x in mine)
                var += sum(snapshot.own_cov[k, r, s] * x * y for r, x in mine for s, y in mine)
        means.append(mean)
        variances.append(var)
    return means, variances


def _snapshot(rng: np.random.Generator, n_own: int, dims: int) -> Snapshot:
    # the repeated token (held=tv) within the own dims, some tokens beyond them
    rows = ["1"] + [f"held={p}" for p in ("tv", "fibre", "mobile")]
    rows += [f"f{i}=v{j}" for i in range(6) for j in range(3)] + ["spend", "spend#b3"]
    cols = ["1"] + [f"id=o{i}" for i in range(n_own)] + ["category=tv", "category=data"]
    w = rng.normal(0, 0.3, (len(rows), len(cols)))
    v = rng.uniform(0.01, 0.5, (len(rows), len(cols)))
    v[0, 0] = 0.0
    half = rng.normal(0, 0.2, (n_own, dims, dims))
    cov = half @ half.transpose(0, 2, 1) + 0.05 * np.eye(dims)
    return Snapshot(
        version=1,
        intercept=-2.0,
        prior_variance=0.7,
        n_learned=100,
        row_index={t: n for n, t in enumerate(rows)},
        col_index={t: n for n, t in enumerate(cols)},
        weights=w,
        variances=v,
        own_index={f"o{i}": i for i in range(n_own)},
        own_mean=rng.normal(0, 0.5, (n_own, dims)),
        own_cov=cov,
        own_dims=dims,
        own_prior_variance=0.4,
        row_scale=rng.uniform(0.5, 2.0, len(rows)),
    )


def _context(rng: np.random.Generator) -> dict[str, Any]:
    context: dict[str, Any] = {f"f{i}": f"v{rng.integers(0, 4)}" for i in range(6)}  # v3: unseen
    context["spend"] = float(rng.uniform(0, 50))
    # a token met twice (a list with a repeated item) and one never seen
    context["held"] = ["tv", "tv", "mobile", "radio"]
    context["fresh"] = "never-seen"
    return context


def _offers(snapshot: Snapshot, picked: list[int] | None) -> OfferMatrix:
    """40 offers with own models (all, or the ``picked``) and two never learned."""
    examples = [{"id": f"o{i}", "category": ["tv", "data", "radio"][i % 3]} for i in range(40)]
    examples += [{"id": "new", "category": "tv"}, {"id": "newer", "category": "games"}]
    offers = snapshot.encode_offers(examples)
    return offers if picked is None else offers.take(picked + [40, 41])


def _assert_matches_reference(snapshot: Snapshot, context: Any, offers: Any) -> None:
    mean, var = snapshot.score(context, offers)
    want_mean, want_var = _reference(snapshot, context, offers)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(var, want_var, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("picked", [None, [3], [0, 5, 39], list(range(0, 40, 7))])
def test_score_is_the_sum_it_stands_for(picked: list[int] | None) -> None:
    rng = np.random.default_rng(5)
    snapshot = _snapshot(rng, n_own=40, dims=12)
    offers = _offers(snapshot, picked)
    for _ in range(5):
        context = _context(rng)
        _assert_matches_reference(snapshot, context, offers)


def test_score_without_own_models_or_scales() -> None:
    rng = np.random.default_rng(8)
    full = _snapshot(rng, n_own=10, dims=8)
    snapshot = Snapshot(
        version=1,
        intercept=full.intercept,
        prior_variance=full.prior_variance,
        n_learned=1,
        row_index=full.row_index,
        col_index=full.col_index,
        weights=full.weights,
        variances=full.variances,
    )
    offers = snapshot.encode_offers([{"id": f"o{i}", "category": "tv"} for i in range(10)])
    context = _context(rng)
    _assert_matches_reference(snapshot, context, offers)


def test_scoring_all_then_picking_equals_scoring_the_picked() -> None:
    """The funnel scores a channel's whole encoded catalogue and keeps the eligible offers."""
    rng = np.random.default_rng(11)
    snapshot = _snapshot(rng, n_own=40, dims=12)
    offers = snapshot.encode_offers([{"id": f"o{i}", "category": "tv"} for i in range(45)])
    picked = np.array([0, 3, 4, 17, 39, 40, 44])
    context = _context(rng)
    mean, var = snapshot.score(context, offers)
    sub_mean, sub_var = snapshot.score(context, offers.take(picked))
    np.testing.assert_allclose(mean[picked], sub_mean, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(var[picked], sub_var, rtol=1e-12, atol=1e-15)


def test_joint_factor_is_what_the_offers_share() -> None:
    """``score_joint``'s factor carries exactly the covariance between offers' logits (the
    crosses with tokens two offers have), and never more variance than an offer has."""
    rng = np.random.default_rng(13)
    snapshot = _snapshot(rng, n_own=6, dims=8)
    examples = [{"id": f"o{i}", "category": ["tv", "data"][i % 2]} for i in range(6)]
    examples.append({"id": "new", "category": "radio"})  # unknown category: private
    offers = snapshot.encode_offers(examples)
    context = _context(rng)
    mean, var, factor = snapshot.score_joint(context, offers)
    want_mean, want_var = snapshot.score(context, offers)
    np.testing.assert_array_equal(mean, want_mean)
    np.testing.assert_array_equal(var, want_var)
    # the reference covariance of the known crosses: sum_rc x_r^2 V_rc a_oc a_o'c, a token met
    # twice counted twice (as score counts its variance)
    tokens = encode(context)
    known = [(snapshot.row_index[t], v) for t, v in tokens if t in snapshot.row_index]
    known = [(r, v * float(snapshot.row_scale[r])) for r, v in known]
    unknown_sq = sum(v * v for t, v in tokens if t not in snapshot.row_index)
    norm_sq = sum(v * v for _, v in known) + unknown_sq
    s = sum(v * v / norm_sq * snapshot.variances[r] for r, v in known)
    cov = (offers.values * s) @ offers.values.T
    off = ~np.eye(len(offers), dtype=bool)
    np.testing.assert_allclose((factor @ factor.T)[off], cov[off], rtol=1e-12, atol=1e-15)
    assert cov[off].max() > 0.01  # offers of one category do co-vary
    assert (np.einsum("ij,ij->i", factor, factor) <= var).all()
    # the ids are private: only the bias and the two known categories are shared
    assert factor.shape[1] == 3


@pytest.mark.parametrize("picked", [None, [3], [0, 5, 39]])
def test_scoring_a_batch_equals_scoring_each_context(picked: list[int] | None) -> None:
    rng = np.random.default_rng(9)
    snapshot = _snapshot(rng, n_own=40, dims=12)
    offers = _offers(snapshot, picked)
    contexts = [_context(rng) for _ in range(7)] + [{}]
    mean, var = snapshot.score_batch(contexts, offers)
    assert mean.shape == var.shape == (len(contexts), len(offers))
    for row, context in enumerate(contexts):
        want_mean, want_var = snapshot.score(context, offers)
        np.testing.assert_allclose(mean[row], want_mean, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(var[row], want_var, rtol=1e-12, atol=1e-12)
