"""The simulator's world can be configured (``bench/simulate.py --segments ...``) and its default
stays the world every published figure was measured on."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from sim_world import SEGMENTS, World, WorldConfig  # noqa: E402


def test_more_segments_than_named_ones_are_drawn_and_used() -> None:
    world = World(WorldConfig(customers=400, offers=12, segments=9), seed=4)
    assert world.segment_names == (*SEGMENTS, "segment6", "segment7", "segment8")
    assert world.seg_cat.shape[0] == 9
    used = {f["segment"] for f in world.customer_features}
    assert used <= set(world.segment_names) and len(used) > 6
    world.add_new_offer()
    assert 0 <= world.new_offer_segment < 9
    world.apply_drift()
    assert all(0 <= s < 9 for s in world.drifted_segments)


def test_the_default_world_is_unchanged_by_the_new_settings() -> None:
    a = World(WorldConfig(customers=300, offers=10), seed=2)
    b = World(WorldConfig(customers=300, offers=10, segments=6), seed=2)
    assert a.segment_names == SEGMENTS
    assert a.customer_features == b.customer_features
    assert np.array_equal(a.seg_cat, b.seg_cat) and a.b0 == b.b0


def test_the_base_rate_sets_the_mean_acceptance_of_a_random_offer() -> None:
    rng = np.random.default_rng(0)
    low = World(WorldConfig(customers=600, offers=12, base_rate=0.02), seed=3).describe(rng, 2000)
    high = World(WorldConfig(customers=600, offers=12, base_rate=0.10), seed=3).describe(rng, 2000)
    assert abs(low["random"] - 0.02) < 0.01 and abs(high["random"] - 0.10) < 0.02
