"""Thompson sampling draws from the model's variance times ``sampling_scale`` (plus a
newcomer's novelty); the propensities shown stay those of the variance as it is."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

from models import BanditModel, Snapshot

OLD = [{"id": "o1", "category": "tv"}, {"id": "o2", "category": "tv"}]
NEW = {"id": "new", "category": "tv"}


def _trained(**options: Any) -> BanditModel:
    model = BanditModel(**options)
    for k in range(2000):
        model.learn_pair({"segment": "A"}, OLD[k % 2], k % 20 == 0)
    return model


def test_the_draws_use_the_scaled_variance_plus_the_novelty() -> None:
    snapshot = _trained(sampling_scale=0.5, novelty_variance=1.0).export()
    offers = snapshot.encode_offers([*OLD, NEW])
    var = np.array([0.2, 0.4, 0.8])
    assert offers.novelty[2] > 0.5
    assert np.allclose(offers.exploring(var), 0.5 * var + offers.novelty)
    taken = offers.take([2])
    assert taken.sampling_scale == 0.5
    assert np.allclose(taken.exploring(var[2:]), 0.5 * var[2:] + offers.novelty[2:])
    # the variance scored (and so the propensity shown) is the model's own
    mean, scored = snapshot.score({"segment": "A"}, offers)
    unscaled = _trained(sampling_scale=1.0, novelty_variance=1.0).export()
    assert np.allclose(scored, unscaled.score({"segment": "A"}, offers)[1])


def test_the_scale_travels_in_the_snapshot_and_the_checkpoint() -> None:
    model = _trained(sampling_scale=0.25)
    assert model.export().sampling_scale == 0.25
    assert Snapshot.from_bytes(model.export(version=2).to_bytes()).sampling_scale == 0.25
    assert pickle.loads(pickle.dumps(model)).export().sampling_scale == 0.25
    assert model.clone().sampling_scale == 0.25


def test_a_checkpoint_from_before_the_scale_draws_from_its_posterior_as_it_is() -> None:
    state = _trained(novelty_variance=0.0).__getstate__()
    del state["sampling_scale"]
    old = BanditModel.__new__(BanditModel)
    old.__setstate__(state)
    assert old.sampling_scale == 1.0
    offers = old.export().encode_offers(OLD)
    var = np.array([0.3, 0.6])
    assert offers.exploring(var) == pytest.approx(var)
