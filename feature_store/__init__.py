"""All of nbo's Redis access: customers, the decision log, the outcome stream, model snapshots,
customer events and their aggregates, outbound queues.

Nothing outside this package builds a key (:mod:`feature_store.keys`) or sees a redis-py type
(:mod:`feature_store.errors` translates them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .archive import ArchiveReader, HistoryLine, InteractionRecord
from .base import CustomerFeatures, DecisionLog, EventStore, ModelStore, OutboundQueue
from .client import connect
from .customers import CustomerRecord, RedisCustomers
from .decisions import (
    ContactReservation,
    DecisionEntry,
    OutcomeResult,
    RedisDecisionLog,
    ShownOffer,
)
from .errors import StoreError, StoreTimeout, StoreUnavailable
from .events import CustomerEvent, RedisEvents
from .keys import Keys
from .lease import FencedCheckpoints, LeaseLost, RedisLease
from .outbound import OutboundMessage, RedisOutbound
from .scan import scan_features
from .server import BundledRedis, start_bundled_redis
from .snapshots import RedisModelStore
from .streams import RedisOutcomeStream, StreamOutcome
from .wire import Wire

__all__ = [
    "ArchiveReader",
    "HistoryLine",
    "InteractionRecord",
    "BundledRedis",
    "ContactReservation",
    "CustomerEvent",
    "CustomerFeatures",
    "CustomerRecord",
    "DecisionEntry",
    "DecisionLog",
    "EventStore",
    "FencedCheckpoints",
    "FeatureStore",
    "Keys",
    "LeaseLost",
    "ModelStore",
    "OutboundMessage",
    "OutboundQueue",
    "OutcomeResult",
    "RedisCustomers",
    "RedisDecisionLog",
    "RedisEvents",
    "RedisLease",
    "RedisModelStore",
    "RedisOutbound",
    "RedisOutcomeStream",
    "ShownOffer",
    "StoreError",
    "StoreTimeout",
    "StoreUnavailable",
    "StreamOutcome",
    "Wire",
    "connect",
    "scan_features",
    "start_bundled_redis",
]


@dataclass
class FeatureStore:
    """The Redis-backed stores sharing one client; built once per process."""

    client: Any
    keys: Keys
    customers: RedisCustomers
    decisions: RedisDecisionLog
    models: RedisModelStore
    events: RedisEvents
    outbound: RedisOutbound
    wire: Wire | None = None

    @classmethod
    def build(
        cls,
        client: Any,
        keys: Keys,
        *,
        events_history_skip: Iterable[str] = (),
        decision_log_ttl_s: int = 2 * 86400,
        lean: bool = False,
    ) -> FeatureStore:
        """``lean``: a decision's two scripts go over a :class:`Wire` (when the server allows
        one) instead of redis-py; then :meth:`close` closes it too."""
        wire = Wire.for_client(client) if lean else None
        return cls(
            client=client,
            keys=keys,
            customers=RedisCustomers(client, keys, wire=wire),
            decisions=RedisDecisionLog(client, keys, ttl_s=decision_log_ttl_s, wire=wire),
            models=RedisModelStore(client, keys),
            events=RedisEvents(client, keys, history_skip=events_history_skip),
            outbound=RedisOutbound(client, keys),
            wire=wire,
        )

    def archive_reader(self, consumer: str = "archiver-0") -> ArchiveReader:
        return ArchiveReader(self.client, self.keys, consumer=consumer)

    def learner_lease(self, holder: str, ttl_ms: int = 10_000) -> RedisLease:
        return RedisLease(self.client, self.keys, holder=holder, ttl_ms=ttl_ms)

    def fenced_checkpoints(self, lease: RedisLease) -> FencedCheckpoints:
        return FencedCheckpoints(self.models, lease)

    def outcome_stream(self, consumer: str = "learner-0") -> RedisOutcomeStream:
        return RedisOutcomeStream(self.client, self.keys, consumer=consumer)

    async def ping(self) -> bool:
        try:
            from .errors import map_redis_errors

            with map_redis_errors():
                return bool(await self.client.ping())
        except StoreError:
            return False

    async def close(self) -> None:
        if self.wire is not None:
            await self.wire.close()
        await self.client.aclose()
