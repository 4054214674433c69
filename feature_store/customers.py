"""Customer features, consent and recent history in Redis hashes and lists."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from .client import is_cluster
from .errors import map_redis_errors
from .keys import Keys
from .wire import Wire

__all__ = ["HISTORY_LENGTH", "HISTORY_TTL_S", "CustomerRecord", "RedisCustomers"]

HISTORY_LENGTH = 500
"""Entries kept per customer in Redis; the SQL archive keeps everything."""

HISTORY_TTL_S = 90 * 86400
"""How long Redis keeps a customer's recent history after its newest line. The SQL archive keeps
every line and ``GET /v1/customers/{id}/history`` reads both, so nothing is lost; without it,
every anonymous visitor ever decided for (a cookie id, seen once) would hold a list for good."""

PROFILE_FIELD = ""
"""The field a profile with no features keeps in its features hash (Redis has no empty hash),
so that it exists; no feature has this name (names have at least one character)."""

_READ_SCRIPT = """
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]),
        redis.call('HGETALL', KEYS[3]), redis.call('HGETALL', KEYS[4])}
"""
"""What a decision reads about a customer: features, consent, contacts, aggregates.

One script, one reply: the same single round trip as a pipeline of four HGETALLs (the keys share
the customer's slot, so it also runs on Redis Cluster), for about a third less client CPU, as
redis-py handles one command and one reply instead of four (bench/load.py)."""


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    customer_id: str
    features: dict[str, Any]
    consent: dict[str, bool]
    contacts: dict[str, str] = field(default_factory=dict)
    aggregates: dict[str, str] = field(default_factory=dict)
    """The raw real-time aggregates hash (see ``decisioning.aggregates``)."""
    profile: bool = False
    """A profile was put (``put``), even one with no features."""

    @property
    def known(self) -> bool:
        """A profile exists (an anonymous visitor has only a contact record)."""
        return bool(self.profile or self.features or self.consent)

    """The contact record: ``imp:<offer>``/``out:<channel>`` JSON lists of times (ms),
    ``last:<offer>`` and ``declined:<offer>`` times (ms)."""


class RedisCustomers:
    """Implements :class:`feature_store.base.CustomerFeatures` on Redis."""

    def __init__(self, client: Any, keys: Keys, *, wire: Wire | None = None) -> None:
        self._redis = client
        self._keys = keys
        self._wire = wire
        """Runs the read script of every decision, if given (see :mod:`feature_store.wire`)."""
        self._read_script = client.register_script(_READ_SCRIPT)

    async def put(
        self, customer_id: str, features: Mapping[str, Any], consent: Mapping[str, bool] | None
    ) -> None:
        """Replace the customer's features (and consent when given) in one transaction, and list
        the customer in the index the date scan walks (:mod:`feature_store.scan`).

        On a single Redis the index entry is in the same transaction. On Redis Cluster it lives
        in another slot, so it is added first: a failure in between leaves an id with no profile,
        which the scan skips, never a profile the scan would miss.
        """
        k = self._keys
        index = k.customer_index(customer_id)
        cluster = is_cluster(self._redis)
        with map_redis_errors():
            if cluster:
                await self._redis.sadd(index, customer_id)
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(k.features(customer_id))
                pipe.hset(
                    k.features(customer_id),
                    mapping={name: orjson.dumps(v) for name, v in features.items()}
                    if features
                    else {PROFILE_FIELD: b"null"},
                )
                if consent is not None:
                    pipe.delete(k.consent(customer_id))
                    if consent:
                        pipe.hset(
                            k.consent(customer_id),
                            mapping={ch: "1" if ok else "0" for ch, ok in consent.items()},
                        )
                if not cluster:
                    pipe.sadd(index, customer_id)
                await pipe.execute()

    async def get(self, customer_id: str) -> CustomerRecord | None:
        """The customer as a decision sees it, in one round trip; None if nothing is stored."""
        k = self._keys
        keys = [
            k.features(customer_id),
            k.consent(customer_id),
            k.contacts(customer_id),
            k.aggregates(customer_id),
        ]
        with map_redis_errors():
            wire = self._wire
            if wire is not None and wire.serves(asyncio.get_running_loop()):
                # four HGETALL in one write: a third of the Redis CPU of the same reads run
                # as a script (no Lua tables to build and return), and still one round trip
                reply = await wire.execute(*(("HGETALL", key) for key in keys))
            else:
                reply = await self._read_script(keys=keys)
        raw_features, raw_consent, raw_contacts, raw_aggregates = reply
        if not (raw_features or raw_consent or raw_contacts or raw_aggregates):
            return None
        features = dict(
            zip(_texts(raw_features[0::2]), map(orjson.loads, raw_features[1::2]), strict=True)
        )
        features.pop(PROFILE_FIELD, None)
        return CustomerRecord(
            customer_id=customer_id,
            features=features,
            profile=bool(raw_features),
            consent={ch: v in (b"1", "1") for ch, v in _hash(raw_consent).items()},
            contacts=_hash(raw_contacts),
            aggregates=_hash(raw_aggregates),
        )

    async def delete(self, customer_id: str) -> bool:
        """Remove the profile, consent, history and contacts, and the customer's index entry
        (in the same transaction on a single Redis; after the keys on Redis Cluster, where an id
        left behind by a failure in between is skipped by the scan)."""
        k = self._keys
        with map_redis_errors():
            async with self._redis.pipeline(transaction=not is_cluster(self._redis)) as pipe:
                pipe.delete(
                    k.features(customer_id),
                    k.consent(customer_id),
                    k.history(customer_id),
                    k.contacts(customer_id),
                )
                pipe.srem(k.customer_index(customer_id), customer_id)
                removed, _ = await pipe.execute()
        return int(removed) > 0

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
                pipe.expire(key, HISTORY_TTL_S)
                pipe.xadd(k.archive(k.shard_of(customer_id)), {"c": customer_id, "e": line})
                if declined is not None:
                    contacts = self._keys.contacts(customer_id)
                    pipe.hset(contacts, f"declined:{declined}", int(time.time() * 1000))
                    pipe.expire(contacts, 90 * 86400)
                await pipe.execute()


def _hash(flat: list[Any]) -> dict[str, str]:
    """``[k1, v1, k2, v2, ...]`` (HGETALL as a script returns it) as a dict of text."""
    return dict(zip(_texts(flat[0::2]), _texts(flat[1::2]), strict=True))


def _texts(values: list[Any]) -> Iterator[str]:
    """Replies as text: ``bytes.decode`` mapped in C (a decision decodes about a hundred)."""
    if values and isinstance(values[0], bytes):
        return map(bytes.decode, values)
    return map(_text, values)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
