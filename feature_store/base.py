"""Everything nbo asks of its online store, one small Protocol per concern.

``decisioning/`` is typed against these; ``feature_store`` implements them on Redis
(:mod:`feature_store.customers`, :mod:`~feature_store.decisions`, :mod:`~feature_store.streams`,
:mod:`~feature_store.snapshots`, :mod:`~feature_store.events`, :mod:`~feature_store.outbound`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from .customers import CustomerRecord
from .decisions import ContactReservation, DecisionEntry, OutcomeResult
from .events import CustomerEvent
from .outbound import OutboundMessage

__all__ = ["CustomerFeatures", "DecisionLog", "EventStore", "ModelStore", "OutboundQueue"]


class CustomerFeatures(Protocol):
    async def put(
        self, customer_id: str, features: Mapping[str, Any], consent: Mapping[str, bool] | None
    ) -> None: ...

    async def get(self, customer_id: str) -> CustomerRecord | None: ...

    async def delete(self, customer_id: str) -> bool: ...

    async def history(self, customer_id: str, *, offset: int = 0, limit: int = 50) -> list[Any]: ...

    async def append_history(
        self, customer_id: str, entry: Mapping[str, Any], *, declined: str | None = None
    ) -> None: ...


class DecisionLog(Protocol):
    async def record(
        self,
        entry: DecisionEntry,
        history: Mapping[str, Any] | None = None,
        contacts: ContactReservation | None = None,
    ) -> str | None: ...

    async def record_outcome(
        self,
        decision_id: str,
        offer_id: str,
        outcome: str,
        *,
        now_ms: int,
        value: float | None = None,
        source: str = "response",
    ) -> OutcomeResult: ...

    async def forget(self, decision_ids: Iterable[str]) -> int: ...

    async def close_due_windows(self, now_ms: int, *, limit: int = 1000) -> int: ...

    async def stats(self) -> dict[str, int]: ...


class ModelStore(Protocol):
    async def latest_version(self) -> int: ...

    async def serving_version(self) -> int: ...

    async def load_snapshot(self, version: int) -> bytes | None: ...

    async def bump_catalogue(self) -> int: ...

    async def catalogue_version(self) -> int: ...


class EventStore(Protocol):
    async def record(self, event: CustomerEvent, *, now_ms: int | None = None) -> bool: ...

    async def record_many(
        self, events: Sequence[CustomerEvent], *, now_ms: int | None = None
    ) -> list[bool]: ...

    async def raw(self, customer_id: str) -> dict[str, str]: ...

    async def erase(self, customer_id: str) -> int: ...


class OutboundQueue(Protocol):
    async def enqueue(
        self, channel: str, customer_id: str, fields: Mapping[str, str], *, now_ms: int
    ) -> str: ...

    async def recent(self, channel: str, limit: int = 50) -> list[OutboundMessage]: ...

    async def claim(
        self, channel: str, consumer: str, count: int, *, reclaim_idle_ms: int | None = None
    ) -> list[OutboundMessage]: ...

    async def ack(self, channel: str, stream_ids: Sequence[str]) -> int: ...
