"""The learner loop against a real Redis stream: order, exactly once, restarts."""

from __future__ import annotations

import asyncio
import time
import uuid

from feature_store import DecisionEntry, FeatureStore, Keys, ShownOffer, connect
from models import LearnerLoop


async def _fill(store: FeatureStore, n: int, *, start: int = 0) -> None:
    for i in range(start, start + n):
        entry = DecisionEntry(
            decision_id=uuid.uuid4().hex, customer_id=f"C{i}", channel="web",
            interaction="visit", at_ms=int(time.time() * 1000), model_version=0,
            control_group=False, context={"segment": "A" if i % 2 else "B"},
            shown=[ShownOffer("o1", {"offer.id": "o1"}, 0.5, False, None, "ignored")],
        )  # fmt: skip
        assert await store.decisions.record(entry) is None
        result = await store.decisions.record_outcome(
            entry.decision_id, "o1", "accepted" if i % 3 == 0 else "declined",
            now_ms=int(time.time() * 1000),
        )  # fmt: skip
        assert result.status == "recorded"


def test_outcomes_trickling_in_are_each_learned_once(redis_url: str) -> None:
    async def scenario() -> tuple[int, int]:
        client = connect(redis_url)
        store = FeatureStore.build(client, Keys(prefix=f"t{uuid.uuid4().hex[:8]}"))
        learner = LearnerLoop(
            store.outcome_stream(), store.models, store.models, block_ms=50,
            checkpoint_interval_s=0.01,
        )  # fmt: skip
        stop = asyncio.Event()
        task = asyncio.create_task(learner.run(stop))
        for burst in range(20):  # small bursts while reads are in flight
            await _fill(store, 3, start=burst * 3)
            await asyncio.sleep(0.01 * (burst % 3))
        deadline = time.monotonic() + 20
        while learner.state.learned < 60 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        await task
        await learner.close()
        again = LearnerLoop(store.outcome_stream(), store.models, store.models, block_ms=50)
        state = await again.restore()
        await again.run(until_idle=True)
        await again.close()
        async for key in client.scan_iter(match=f"{store.keys.prefix}:*"):
            await client.delete(key)
        await client.aclose()
        return state.learned, again.state.learned

    checkpointed, after_restart = asyncio.run(scenario())
    assert checkpointed == 60
    assert after_restart == 60


def test_served_propensities_give_known_auc_and_calibration(redis_url: str) -> None:
    """A constructed log: accepted outcomes were all served with higher propensities (AUC 1)."""

    async def scenario() -> dict[str, object]:
        client = connect(redis_url)
        store = FeatureStore.build(client, Keys(prefix=f"t{uuid.uuid4().hex[:8]}"))
        cases = [(0.3, True)] * 10 + [(0.04, False)] * 30 + [(0.015, False)] * 10
        for n, (propensity, accepted) in enumerate(cases):
            entry = DecisionEntry(
                decision_id=uuid.uuid4().hex, customer_id=f"C{n}", channel="web",
                interaction="visit", at_ms=int(time.time() * 1000), model_version=0,
                control_group=False, context={"segment": "A"},
                shown=[ShownOffer("o1", {"offer.id": "o1"}, 0.5, False, None, "ignored",
                                  propensity)],
            )  # fmt: skip
            await store.decisions.record(entry)
            await store.decisions.record_outcome(
                entry.decision_id, "o1", "accepted" if accepted else "declined",
                now_ms=int(time.time() * 1000),
            )  # fmt: skip
        learner = LearnerLoop(store.outcome_stream(), store.models, store.models, block_ms=50)
        await learner.run(until_idle=True)
        await learner.close()
        summary = learner.state.tracker.summary()
        async for key in client.scan_iter(match=f"{store.keys.prefix}:*"):
            await client.delete(key)
        await client.aclose()
        return summary

    summary = asyncio.run(scenario())
    assert summary["auc"] == 1.0
    assert summary["offers"] == {"o1": {"auc": 1.0, "n": 50}}
    buckets = {(b["bucket_low"], b["bucket_high"]): b for b in summary["calibration"]}  # type: ignore[union-attr]
    assert buckets[(0.2, 0.3)] == {
        "bucket_low": 0.2,
        "bucket_high": 0.3,
        "predicted": 0.3,
        "observed": 1.0,
        "n": 10,
    }
    assert buckets[(0.02, 0.05)]["n"] == 30 and buckets[(0.02, 0.05)]["observed"] == 0.0
    assert buckets[(0.01, 0.02)]["n"] == 10
