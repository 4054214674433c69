"""The Redis key layout is pinned: changing a key is a deliberate migration, never an accident."""

from __future__ import annotations

from feature_store import Keys


def test_key_strings_are_pinned() -> None:
    k = Keys(prefix="nbo", shards=4)
    assert k.features("C1") == "nbo:v1:{c:C1}:features"
    assert k.consent("C1") == "nbo:v1:{c:C1}:consent"
    assert k.history("C1") == "nbo:v1:{c:C1}:history"
    assert k.contacts("C1") == "nbo:v1:{c:C1}:contacts"
    assert k.aggregates("C1") == "nbo:v1:{c:C1}:aggregates"
    assert k.event_ids("C1") == "nbo:v1:{c:C1}:event_ids"
    assert k.queued("C1") == "nbo:v1:{c:C1}:queued"
    assert k.outbound("email") == "nbo:v1:{q:email}:outbound"
    assert k.features_pattern == "nbo:v1:{c:*}:features"
    assert k.customer_of_features("nbo:v1:{c:C:1}:features") == "C:1"
    assert k.customer_index("C1") == "nbo:v1:{i:3}:customers"
    assert k.customer_index_part(15) == "nbo:v1:{i:15}:customers"
    assert k.customer_index_complete == "nbo:v1:{i}:customers:complete"
    assert k.decision("d1", 3) == "nbo:v1:{o:3}:decision:d1"
    assert k.outcomes(3) == "nbo:v1:{o:3}:outcomes"
    assert k.pending(3) == "nbo:v1:{o:3}:pending"
    assert k.stats(3) == "nbo:v1:{o:3}:stats"
    assert k.checkpoint == "nbo:v1:{m}:checkpoint"
    assert k.snapshot(7) == "nbo:v1:{m}:snapshot:7"
    assert k.snapshot_latest == "nbo:v1:{m}:snapshot:latest"
    assert k.catalogue_version == "nbo:v1:{m}:catalogue:version"


def test_decision_shard_is_stable_and_in_range() -> None:
    k = Keys(shards=8)
    shards = {k.shard_of(f"decision-{n}") for n in range(1000)}
    assert shards == set(range(8))
    assert k.shard_of("abc") == Keys(shards=8).shard_of("abc") == 2
