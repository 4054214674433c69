"""What the rest of nbo may rely on from ``models/``: small structural Protocols.

Learners follow river's verbs (``learn_one`` / ``predict_proba_one``); the learner loop is typed
against the outcome source and checkpoint store it needs, so ``models/`` knows nothing of Redis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

__all__ = ["CheckpointStore", "Learner", "OutcomeRecord", "OutcomeSource", "SnapshotSink"]


class Learner(Protocol):
    def learn_one(self, x: Mapping[str, Any], y: bool, w: float = 1.0) -> None: ...

    def predict_proba_one(self, x: Mapping[str, Any]) -> float: ...


class OutcomeRecord(Protocol):
    """One outcome joined with its decision, as the learner needs it."""

    @property
    def shard(self) -> int: ...

    @property
    def stream_id(self) -> str: ...

    @property
    def accepted(self) -> bool: ...

    @property
    def offer_id(self) -> str: ...

    @property
    def propensity(self) -> float | None:
        """The acceptance probability the decision was served with, if logged."""
        ...

    @property
    def learn(self) -> bool:
        """False for records kept for the log only (e.g. an expired window with no default)."""
        ...

    def example(self) -> dict[str, Any]:
        """The flat learning example: context features plus ``offer.``-prefixed attributes."""
        ...

    def parts(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The example already split: context features, and offer attributes without prefix."""
        ...


class OutcomeSource(Protocol):
    async def read(self, count: int, block_ms: int) -> Sequence[OutcomeRecord]: ...

    async def ack(self, positions: Mapping[int, Sequence[str]]) -> None: ...

    async def pending_count(self) -> int: ...


class CheckpointStore(Protocol):
    async def load_checkpoint(self) -> bytes | None: ...

    async def save_checkpoint(self, data: bytes) -> None: ...


class SnapshotSink(Protocol):
    async def publish_snapshot(self, version: int, data: bytes, *, n_learned: int) -> None: ...
