"""A newcomer's extra exploration: for offers that arrive in an established model, fading."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from models import BanditModel, Snapshot, ThompsonPolicy

OLD = [{"id": "o1", "category": "tv"}, {"id": "o2", "category": "tv"}]
NEW = {"id": "new", "category": "tv"}
TAU = 1000.0


def _learn(model: BanditModel, offers: list[dict[str, str]], n: int) -> None:
    for k in range(n):
        model.learn_pair({"segment": "A"}, offers[k % len(offers)], k % 20 == 0)


def test_offers_of_a_cold_start_get_no_novelty_and_a_newcomer_gets_it_fading() -> None:
    model = BanditModel(novelty_variance=2.0, novelty_outcomes=TAU)
    _learn(model, OLD, 4000)
    snapshot = model.export()
    # the catalogue's first offers arrived with the model: no boost, and none left
    assert snapshot.births == {"o1": 0, "o2": 1}
    arriving = snapshot.encode_offers([*OLD, NEW]).novelty
    assert arriving[:2] == pytest.approx([0.0, 0.0], abs=1e-4)
    # an offer not learned yet is arriving now, in a model 4,000 outcomes old
    assert arriving[2] == pytest.approx(2.0 * (1 - math.exp(-4.0)))

    _learn(model, [NEW], 1)
    _learn(model, OLD, 1999)  # the newcomer is not shown again: its novelty fades anyway
    later = model.export()
    assert later.births["new"] == 4000
    faded = later.encode_offers([*OLD, NEW]).novelty
    assert faded[2] == pytest.approx(2.0 * math.exp(-2.0) * (1 - math.exp(-4.0)))


def test_novelty_travels_in_the_snapshot_and_in_the_checkpoint() -> None:
    model = BanditModel(novelty_variance=0.5, novelty_outcomes=300.0)
    _learn(model, OLD, 500)
    _learn(model, [NEW], 3)
    restored = Snapshot.from_bytes(model.export(version=3).to_bytes())
    assert restored.births == {"o1": 0, "o2": 1, "new": 500}
    assert (restored.novelty_variance, restored.novelty_outcomes) == (0.5, 300.0)
    offers = [*OLD, NEW]
    assert np.allclose(
        restored.encode_offers(offers).novelty, model.export().encode_offers(offers).novelty
    )
    again = pickle.loads(pickle.dumps(model))
    assert again.export().births == model.export().births


def test_without_novelty_the_matrix_explores_with_the_models_variances() -> None:
    model = BanditModel(novelty_variance=0.0, sampling_scale=1.0)
    _learn(model, OLD, 2000)
    offers = model.export().encode_offers([*OLD, NEW])
    var = np.array([0.1, 0.2, 0.3])
    assert offers.exploring(var) is var
    assert len(offers.take([2]).novelty) == 0


def test_a_newcomer_that_looks_poor_is_tried_more_and_each_pick_has_its_exact_probability() -> None:
    """The newcomer's attributes say it is poor (mean far below the others'): with novelty it
    is drawn often enough to be found out, and the logged probability is the one it was drawn
    with (the share of 20,000 draws, within three standard errors)."""
    model = BanditModel(novelty_variance=1.0, novelty_outcomes=TAU)
    _learn(model, OLD, 3000)
    offers = model.export().encode_offers([*OLD, NEW])
    mean = np.array([-2.0, -2.1, -4.0])
    var = np.array([0.04, 0.04, 0.6])
    eligible = np.ones((20_000, 3), dtype=np.bool_)
    weights = np.ones((20_000, 3))
    shares = []
    for draw_var in (var, offers.exploring(var)):
        policy = ThompsonPolicy(control_share=0.0, floor=0.0, seed=7)
        rows = np.broadcast_to(draw_var, (20_000, 3))
        choices = policy.choose_batch(np.broadcast_to(mean, (20_000, 3)), rows, weights, eligible)
        picks = np.array([c.picks[0].index for c in choices])
        share = float((picks == 2).mean())
        logged = [c.picks[0].probability for c in choices if c.picks[0].index == 2]
        assert logged and abs(share - logged[0]) <= 3 * math.sqrt(share * (1 - share) / 20_000)
        shares.append(share)
    assert shares[1] > 3 * shares[0]
