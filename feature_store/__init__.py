"""All of nbo's Redis access: customers, the decision log, the outcome stream, model snapshots.

Nothing outside this package builds a key (:mod:`feature_store.keys`) or sees a redis-py type
(:mod:`feature_store.errors` translates them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import CustomerFeatures, DecisionLog, ModelStore
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
from .keys import Keys
from .server import BundledRedis, start_bundled_redis
from .snapshots import RedisModelStore
from .streams import RedisOutcomeStream, StreamOutcome

__all__ = [
    "BundledRedis",
    "ContactReservation",
    "CustomerFeatures",
    "CustomerRecord",
    "DecisionEntry",
    "DecisionLog",
    "FeatureStore",
    "Keys",
    "ModelStore",
    "OutcomeResult",
    "RedisCustomers",
    "RedisDecisionLog",
    "RedisModelStore",
    "RedisOutcomeStream",
    "ShownOffer",
    "StoreError",
    "StoreTimeout",
    "StoreUnavailable",
    "StreamOutcome",
    "connect",
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

    @classmethod
    def build(cls, client: Any, keys: Keys) -> FeatureStore:
        return cls(
            client=client,
            keys=keys,
            customers=RedisCustomers(client, keys),
            decisions=RedisDecisionLog(client, keys),
            models=RedisModelStore(client, keys),
        )

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
        await self.client.aclose()
