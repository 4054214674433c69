"""The learner loop: read joined outcomes, update the model, checkpoint atomically, publish.

Exactly once, by construction: the checkpoint is one blob holding the model *and* the exact ids
of the entries it applied that are not yet known to be acknowledged, written in one atomic store
operation. Entries are acknowledged on the stream only after the checkpoint that contains them is
saved, and an id leaves the checkpoint once its acknowledgement succeeded; only unacknowledged
entries are ever redelivered. A learner killed at any moment restarts from its last checkpoint; the
stream redelivers everything not acknowledged, and the redelivered ids the checkpoint holds are
skipped (they are already in the model). So every outcome is learned once.

Exact ids rather than one position per shard: a read sent by a dead incarnation (say, just before
Redis stalled) can run when Redis wakes and deliver entries *older* than ones the live learner has
since applied; a position would take them for replays and lose them.

``run(stop, max_items)`` mirrors arq's worker: it loops until ``stop`` is set, or, in burst mode
(tests, benchmarks), until ``max_items`` records were handled or the stream is idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import pickle
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .bandit_model import BanditModel
from .base import CheckpointStore, OutcomeSource, SnapshotSink
from .learning_metrics import LearningTracker

__all__ = ["LearnerLoop", "LearnerState", "stream_id_key"]

log = logging.getLogger(__name__)


def stream_id_key(stream_id: str) -> tuple[int, int]:
    """Order Redis stream ids (``"<ms>-<seq>"``) numerically.

    >>> stream_id_key("1700000000000-3") < stream_id_key("1700000000000-12")
    True
    """
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class LearnerState:
    """Everything a checkpoint holds; saved and restored as one unit."""

    model: BanditModel
    # the newest id applied per shard: a progress figure, not what redeliveries are checked against
    positions: dict[int, str] = field(default_factory=dict)
    # ids applied whose acknowledgement has not succeeded yet: the only ones Redis can redeliver
    applied: dict[int, set[str]] = field(default_factory=dict)
    version: int = 0
    learned: int = 0
    accepted: int = 0
    log_only: int = 0
    tracker: LearningTracker = field(default_factory=LearningTracker)


class LearnerLoop:
    """Consume outcomes and keep the model, its checkpoint and its published snapshot up to date."""

    def __init__(
        self,
        source: OutcomeSource,
        checkpoints: CheckpointStore,
        snapshots: SnapshotSink,
        *,
        model_factory: Callable[[], BanditModel] = BanditModel,
        batch_size: int = 500,
        block_ms: int = 500,
        checkpoint_interval_s: float = 1.0,
    ) -> None:
        self.source = source
        self.checkpoints = checkpoints
        self.snapshots = snapshots
        self.model_factory = model_factory
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.checkpoint_interval_s = checkpoint_interval_s
        self._state: LearnerState | None = None
        self._unacked: dict[int, list[str]] = {}
        self._legacy_positions: dict[int, str] = {}
        # acknowledged at the last checkpoint: the read in flight then may still deliver them
        self._just_acked: dict[int, set[str]] = {}
        self._dirty = False
        self._prefetch: asyncio.Future[Sequence[object]] | None = None
        self.progressed_at = time.monotonic()
        """When the loop last finished a read or a checkpoint: a supervisor's sign of life."""

    @property
    def state(self) -> LearnerState:
        if self._state is None:
            raise RuntimeError("the learner has not been started: call restore() first")
        return self._state

    async def restore(self) -> LearnerState:
        """Load the last checkpoint, or start a fresh model."""
        data = await self.checkpoints.load_checkpoint()
        if data is None:
            self._state = LearnerState(model=self.model_factory())
        else:
            # the checkpoint is written only by nbo's learner into nbo's own Redis
            self._state = pickle.loads(data)  # noqa: S301
            if not hasattr(self._state, "tracker"):  # a checkpoint from before the tracker
                self._state.tracker = LearningTracker()
            if not hasattr(self._state, "applied"):
                # a checkpoint from before exact ids: its positions say what it applied
                self._state.applied = {}
                self._legacy_positions = dict(self._state.positions)
        return self._state

    def _apply(self, records: list[Any]) -> int:
        state = self.state
        handled = 0
        contexts: list[Any] = []
        offers: list[dict[str, Any]] = []
        outcomes: list[bool] = []
        for record in records:
            shard: int = record.shard
            stream_id: str = record.stream_id
            self._unacked.setdefault(shard, []).append(stream_id)
            applied = state.applied.setdefault(shard, set())
            if (
                stream_id in applied
                or stream_id in self._just_acked.get(shard, ())
                or self._is_legacy_replay(shard, stream_id)
            ):
                continue  # already in the model: a redelivery (after a crash, or when idle)
            applied.add(stream_id)
            if record.learn:
                accepted: bool = record.accepted
                if record.propensity is not None:
                    state.tracker.update(record.offer_id, record.propensity, accepted)
                context, offer = record.parts()
                contexts.append(context)
                offers.append(offer)
                outcomes.append(accepted)
                state.learned += 1
                state.accepted += int(accepted)
            else:
                state.log_only += 1
            last = state.positions.get(shard)
            if last is None or stream_id_key(stream_id) > stream_id_key(last):
                state.positions[shard] = stream_id
            self._dirty = True
            handled += 1
        # one call per batch: the model maps and scales the whole batch's tokens at once
        state.model.learn_pairs(contexts, offers, outcomes)
        return handled

    async def checkpoint(self) -> None:
        """Save model and positions atomically, publish a snapshot, then acknowledge."""
        state = self.state
        if self._dirty:
            state.version += 1
            await self.checkpoints.save_checkpoint(pickle.dumps(state, pickle.HIGHEST_PROTOCOL))
            snapshot = dataclasses.replace(
                state.model.export(version=state.version), learning=state.tracker.summary()
            )
            await self.snapshots.publish_snapshot(
                state.version, snapshot.to_bytes(), n_learned=state.model.n_learned
            )
            self._dirty = False
        if self._unacked:
            unacked, self._unacked = self._unacked, {}
            await self.source.ack(unacked)
            # acknowledged: a read sent from now on cannot deliver these, so the next checkpoint
            # drops them; the one read sent before (the prefetch) is applied before that
            # checkpoint, and is checked against them until then
            self._just_acked = {shard: set(ids) for shard, ids in unacked.items()}
            for shard, ids in self._just_acked.items():
                state.applied.get(shard, set()).difference_update(ids)

    def _is_legacy_replay(self, shard: int, stream_id: str) -> bool:
        last = self._legacy_positions.get(shard)
        return last is not None and stream_id_key(stream_id) <= stream_id_key(last)

    async def _read(self, count: int) -> Sequence[object]:
        return await self.source.read(count, self.block_ms)

    async def run(
        self,
        stop: asyncio.Event | None = None,
        *,
        max_items: int | None = None,
        until_idle: bool = False,
    ) -> int:
        """Learn until stopped; returns how many new records were applied."""
        if self._state is None:
            await self.restore()
        handled = 0
        last_checkpoint = time.monotonic()
        while stop is None or not stop.is_set():
            want = self.batch_size
            if max_items is not None:
                want = min(want, max_items - handled)
                if want <= 0:
                    break
            if max_items is None:
                # read the next batch while this one is learned, but never two reads at
                # once: two reads in flight may be served out of stream order
                batch = self._prefetch or asyncio.ensure_future(self._read(want))
                records = list(await batch)
                self._prefetch = asyncio.ensure_future(self._read(want))
            else:
                records = list(await self._read(want))
            handled += self._apply(records)
            now = self.progressed_at = time.monotonic()
            if now - last_checkpoint >= self.checkpoint_interval_s:
                await self.checkpoint()
                last_checkpoint = self.progressed_at = time.monotonic()
            if until_idle and not records:
                break
        # only a loop that ended normally checkpoints: after a failure the state may hold part
        # of a batch, and a cancelled learner (a supervisor gave up on a stuck step) could block
        # on the same thing again; what was not acknowledged is read again on restart
        await self.checkpoint()
        return handled

    async def close(self) -> None:
        """Drop a read in flight; what it delivered stays pending and is redelivered on restart."""
        if self._prefetch is not None:
            self._prefetch.cancel()
            with contextlib.suppress(BaseException):
                await self._prefetch
            self._prefetch = None
