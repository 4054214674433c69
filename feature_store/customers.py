"""Customer features, consent and recent history in Redis hashes and lists."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from .client import is_cluster
from .errors import map_redis_errors
from .keys import Keys

__all__ = ["CustomerRecord", "RedisCustomers"]

HISTORY_LENGTH = 500
"""Entries kept per customer in Redis; the SQL archive keeps everything."""


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    customer_id: str
    features: dict[str, Any]
    consent: dict[str, bool]
    contacts: dict[str, str] = field(default_factory=dict)
    aggregates: dict[str, str] = field(default_factory=dict)
    """The raw real-time aggregates hash (see ``decisioning.aggregates``)."""

    @property
    def known(self) -> bool:
        """A profile exists (an anonymous visitor has only a contact record)."""
        return bool(self.features or self.consent)

    """The contact record: ``imp:<offer>``/``out:<channel>`` JSON lists of times (ms),
    ``last:<offer>`` and ``declined:<offer>`` times (ms)."""


class RedisCustomers:
    """Implements :class:`feature_store.base.CustomerFeatures` on Redis."""

    def __init__(self, client: Any, keys: Keys) -> None:
        self._redis = client
        self._keys = keys

    async def put(
        self, customer_id: str, features: Mapping[str, Any], consent: Mapping[str, bool] | None
    ) -> None:
        """Replace the customer's features (and consent when given) in one transaction."""
        k = self._keys
        with map_redis_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(k.features(customer_id))
                if features:
                    pipe.hset(
                        k.features(customer_id),
                        mapping={name: orjson.dumps(v) for name, v in features.items()},
                    )
                if consent is not None:
                    pipe.delete(k.consent(customer_id))
                    if consent:
                        pipe.hset(
                            k.consent(customer_id),
                            mapping={ch: "1" if ok else "0" for ch, ok in consent.items()},
                        )
                await pipe.execute()

    async def get(self, customer_id: str) -> CustomerRecord | None:
        k = self._keys
        with map_redis_errors():
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(k.features(customer_id))
                pipe.hgetall(k.consent(customer_id))
                pipe.hgetall(k.contacts(customer_id))
                pipe.hgetall(k.aggregates(customer_id))
                raw_features, raw_consent, raw_contacts, raw_aggregates = await pipe.execute()
        if not (raw_features or raw_consent or raw_contacts or raw_aggregates):
            return None
        return CustomerRecord(
            customer_id=customer_id,
            features={_text(n): orjson.loads(v) for n, v in raw_features.items()},
            consent={_text(ch): v in (b"1", "1") for ch, v in raw_consent.items()},
            contacts={_text(n): _text(v) for n, v in raw_contacts.items()},
            aggregates={_text(n): _text(v) for n, v in raw_aggregates.items()},
        )

    async def delete(self, customer_id: str) -> bool:
        k = self._keys
        with map_redis_errors():
            removed: int = await self._redis.delete(
                k.features(customer_id),
                k.consent(customer_id),
                k.history(customer_id),
                k.contacts(customer_id),
            )
        return removed > 0

    async def history(self, customer_id: str, *, offset: int = 0, limit: int = 50) -> list[Any]:
        with map_redis_errors():
            raw = await self._redis.lrange(
                self._keys.history(customer_id), offset, offset + limit - 1
            )
        return [orjson.loads(item) for item in raw]

    async def history_lines(self, customer_id: str) -> list[str]:
        """The whole recent list (newest first), as the raw JSON lines the archive also holds."""
        with map_redis_errors():
            raw = await self._redis.lrange(self._keys.history(customer_id), 0, -1)
        return [_text(item) for item in raw]

    async def append_history(
        self, customer_id: str, entry: Mapping[str, Any], *, declined: str | None = None
    ) -> None:
        """Add a history line; ``declined`` also starts that offer's cool-down (same slot).

        The line is also appended to the archive stream that the SQL archiver reads, in the same
        transaction, so the archive gets exactly the lines the list got.
        """
        k = self._keys
        key = k.history(customer_id)
        line = orjson.dumps(entry)
        with map_redis_errors():
            # a cluster runs no transaction across slots: there the copy is pipelined beside it
            async with self._redis.pipeline(transaction=not is_cluster(self._redis)) as pipe:
                pipe.lpush(key, line)
                pipe.ltrim(key, 0, HISTORY_LENGTH - 1)
                pipe.xadd(k.archive(k.shard_of(customer_id)), {"c": customer_id, "e": line})
                if declined is not None:
                    contacts = self._keys.contacts(customer_id)
                    pipe.hset(contacts, f"declined:{declined}", int(time.time() * 1000))
                    pipe.expire(contacts, 90 * 86400)
                await pipe.execute()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
