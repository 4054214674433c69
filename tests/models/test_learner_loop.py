"""The learner loop against a real Redis stream: order, exactly once, restarts."""

from __future__ import annotations

import asyncio
import pickle
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

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


async def _drop(client: Any, store: FeatureStore) -> None:
    async for key in client.scan_iter(match=f"{store.keys.prefix}:*"):
        await client.delete(key)
    await client.aclose()


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
        await _drop(client, store)
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
        await _drop(client, store)
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


def test_an_entry_delivered_to_a_dead_incarnation_after_newer_ones_is_still_learned(
    redis_url: str,
) -> None:
    """A read sent by a learner that died (say, just before Redis stalled) can run when Redis
    wakes, after the restarted learner scanned its pending entries. What it delivered is older
    than entries the live learner then learns; it must still be learned, once."""

    async def scenario() -> tuple[int, int]:
        client = connect(redis_url)
        store = FeatureStore.build(client, Keys(prefix=f"t{uuid.uuid4().hex[:8]}"))
        stream = store.outcome_stream()
        learner = LearnerLoop(stream, store.models, store.models, block_ms=20)
        await _fill(store, 1)
        assert await learner.run(max_items=1) == 1  # pending scanned (none), then E0 learned
        await _fill(store, 1, start=1)
        # the dead incarnation's stale read runs now: E1 goes to the consumer's pending list
        stale = await client.xreadgroup(
            "learners", stream.consumer, {store.keys.outcomes(0): ">"}, count=1
        )
        assert len(stale[0][1]) == 1
        await _fill(store, 1, start=2)
        assert await learner.run(max_items=1) == 1  # E2, newer than E1, is learned first
        await learner.run(until_idle=True)  # idle: the pending entries are looked at again
        await learner.run(until_idle=True)
        await learner.close()
        again = LearnerLoop(store.outcome_stream(), store.models, store.models, block_ms=20)
        await again.restore()
        await again.run(until_idle=True)  # a restart learns nothing twice
        await again.close()
        pending = await stream.pending_count()
        await _drop(client, store)
        return again.state.learned, pending

    learned, pending = asyncio.run(scenario())
    assert learned == 3
    assert pending == 0


class _ServedBeforeTheAck:
    """The first batch, delivered once more by the read in flight while it was acknowledged: what
    a scan of the pending entries sent just before the acknowledgement returns."""

    def __init__(self, source: Any) -> None:
        self._source = source
        self._first: Sequence[object] | None = None
        self._acked = asyncio.Event()

    async def read(self, count: int, block_ms: int) -> Sequence[object]:
        if self._first is None:
            self._first = await self._source.read(count, block_ms)
            return self._first
        if not self._acked.is_set():
            await self._acked.wait()
            return self._first
        result: Sequence[object] = await self._source.read(count, block_ms)
        return result

    async def ack(self, positions: Mapping[int, Sequence[str]]) -> None:
        await self._source.ack(positions)
        self._acked.set()


def test_a_batch_read_before_its_acknowledgement_is_not_learned_again(redis_url: str) -> None:
    async def scenario() -> int:
        client = connect(redis_url)
        store = FeatureStore.build(client, Keys(prefix=f"t{uuid.uuid4().hex[:8]}"))
        await _fill(store, 5)
        source = _ServedBeforeTheAck(store.outcome_stream())
        learner = LearnerLoop(
            source, store.models, store.models, block_ms=20, checkpoint_interval_s=0
        )
        stop = asyncio.Event()
        task = asyncio.create_task(learner.run(stop))
        await asyncio.sleep(0.5)
        stop.set()
        await task
        await learner.close()
        await _drop(client, store)
        return learner.state.learned

    assert asyncio.run(scenario()) == 5


class _Unacknowledged:
    """An outcome source whose acknowledgements never reach Redis (a learner that dies first)."""

    def __init__(self, source: Any) -> None:
        self._source = source

    async def read(self, count: int, block_ms: int) -> Sequence[object]:
        result: Sequence[object] = await self._source.read(count, block_ms)
        return result

    async def ack(self, positions: Mapping[int, Sequence[str]]) -> None:
        del positions


def test_a_checkpoint_from_before_exact_ids_learns_nothing_twice(redis_url: str) -> None:
    """An older checkpoint has only one position per shard: what it applied is skipped by it."""

    async def scenario() -> int:
        client = connect(redis_url)
        store = FeatureStore.build(client, Keys(prefix=f"t{uuid.uuid4().hex[:8]}"))
        stream = store.outcome_stream()
        await _fill(store, 4)
        first = LearnerLoop(_Unacknowledged(stream), store.models, store.models, block_ms=20)
        await first.restore()
        assert await first.run(max_items=4) == 4  # checkpointed; dies before acknowledging
        state = first.state
        del state.applied  # as the earlier learner pickled it
        await store.models.save_checkpoint(pickle.dumps(state))
        await first.close()
        assert await stream.pending_count() == 4
        again = LearnerLoop(store.outcome_stream(), store.models, store.models, block_ms=20)
        await again.restore()
        await _fill(store, 2, start=4)
        await again.run(until_idle=True)
        await again.close()
        await _drop(client, store)
        return again.state.learned

    assert asyncio.run(scenario()) == 6
