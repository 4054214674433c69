"""Customer events in Redis: deduplicated, folded into real-time aggregates, logged to history.

A decision may spend one Redis command on a customer's event aggregates, so everything it needs
sits in one hash per customer (``keys.aggregates``), maintained by one Lua script per event. The
script also deduplicates by the sender's event id and appends the history line; all three keys
share the customer's slot ``{c:<id>}``, so an event is counted exactly once, atomically, on a
single server and on Redis Cluster alike.

Aggregates hash layout (``T`` is an event type, ``r`` a resolution letter, ``b`` a bucket number,
i.e. ``at_ms // size_ms``)::

    T:c:<r><b>    count of T events in that bucket  (m: minute, h: hour, q: 6 hours, d: day)
    T:s:<r><b>    sum of their numeric properties.value / properties.amount
    T:last        time (ms) of the newest T event
    T:name        the name of the newest T event, if it had one
    T:v           "1" once a T event carried a numeric value
    _t            time (ms) of the newest event of any type
    _type         the type of the newest event
    _ch, _ch_at   properties.channel of the newest event that named one, and its time (ms)

    _rh, _idh     the receive hour the TTLs (and the seen ids' trimming) were last refreshed in

Every event writes its bucket at each resolution, unless that bucket is already older than the
resolution keeps (see :data:`RESOLUTIONS`): an event that arrives late still lands in the right
buckets, and "newest" fields only move forward, so the aggregates do not depend on arrival order.
Buckets are trimmed relative to the newest event time (the event clock, not the server's), once
per new hour. :func:`decisioning.aggregates.aggregate_features` reads the hash.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from .client import is_cluster
from .customers import HISTORY_LENGTH, HISTORY_TTL_S
from .errors import map_redis_errors
from .keys import Keys

__all__ = ["RESOLUTIONS", "CustomerEvent", "RedisEvents"]

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

RESOLUTIONS: tuple[tuple[str, int, int], ...] = (
    ("m", MINUTE_MS, 60),
    ("h", HOUR_MS, 24),
    ("q", 6 * HOUR_MS, 28),
    ("d", DAY_MS, 30),
)
"""``(letter, bucket size in ms, buckets kept)``: minutes for the last hour, hours for the last
day, quarter days for the last week, days for the last 30 days: each window is read from about
30-60 buckets (exact to one bucket, 1/24 to 1/60 of its length), so the hash of even a very
active customer stays small enough to read and sum on every decision."""

EVENT_IDS_KEEP_MS = 31 * DAY_MS
"""How long a sender's event id is remembered: the same id again within this time counts once."""

AGGREGATES_TTL_MS = 400 * DAY_MS
"""A customer with no event for this long loses the aggregates (recency included)."""


@dataclass(frozen=True, slots=True)
class CustomerEvent:
    """One thing a customer did or that happened to them, at ``at_ms`` (event time, ms)."""

    customer_id: str
    type: str
    at_ms: int
    id: str | None = None
    """The sender's event id: the same id twice counts once (None: never deduplicated)."""
    name: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)

    @property
    def value(self) -> float | None:
        """``properties.value`` (else ``amount``) when it is a number: summed in aggregates."""
        for name in ("value", "amount"):
            raw = self.properties.get(name)
            if isinstance(raw, int | float) and not isinstance(raw, bool):
                return float(raw)
        return None

    @property
    def channel(self) -> str | None:
        raw = self.properties.get("channel")
        return raw if isinstance(raw, str) and raw else None

    def history_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "type": "event",
            "at": datetime.fromtimestamp(self.at_ms / 1000, UTC).isoformat(),
            "event_type": self.type,
        }
        if self.id is not None:
            entry["id"] = self.id
        if self.name is not None:
            entry["name"] = self.name
        if self.properties:
            entry["properties"] = dict(self.properties)
        return entry


# Redis calls are what a script costs (a few µs each): the common path makes six (ZADD NX,
# HMGET, one HINCRBY per resolution, HSET) plus three for the history line and its archive copy;
# trimming the buckets, the seen ids and refreshing the TTLs happen once per new hour.
_RECORD_TEMPLATE = """
local agg, ids, hist, archive = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, typ, name, at = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local value, channel, now, entry = ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8]
local RES = {{RESOLUTIONS}}
if id ~= '' and redis.call('ZADD', ids, 'NX', now, id) == 0 then return 0 end
local got = redis.call('HMGET', agg, '_t', typ .. ':last', '_ch_at', '_rh', typ .. ':name', '_idh')
local newest, last = tonumber(got[1] or '-1'), tonumber(got[2] or '-1')
local ch_at, receive_hour = tonumber(got[3] or '-1'), tonumber(got[4] or '-1')
local ref = math.max(newest, at)
for _, r in ipairs(RES) do
  local b = math.floor(at / r[2])
  if b > math.floor(ref / r[2]) - r[3] then
    local suffix = r[1] .. string.format('%d', b)
    redis.call('HINCRBY', agg, typ .. ':c:' .. suffix, 1)
    if value ~= '' then redis.call('HINCRBYFLOAT', agg, typ .. ':s:' .. suffix, value) end
  end
end
local set = {}
if value ~= '' then table.insert(set, typ .. ':v'); table.insert(set, '1') end
if at >= last then
  table.insert(set, typ .. ':last'); table.insert(set, string.format('%d', at))
  if name ~= '' then
    table.insert(set, typ .. ':name'); table.insert(set, name)
  elseif got[5] then
    redis.call('HDEL', agg, typ .. ':name')
  end
end
if channel ~= '' and at >= ch_at then
  table.insert(set, '_ch'); table.insert(set, channel)
  table.insert(set, '_ch_at'); table.insert(set, string.format('%d', at))
end
if at >= newest then
  table.insert(set, '_t'); table.insert(set, string.format('%d', at))
  table.insert(set, '_type'); table.insert(set, typ)
end
-- once per hour of receive time: forget old ids, refresh the TTLs
local hour = math.floor(now / 3600000)
if id ~= '' and hour ~= tonumber(got[6] or '-1') then
  table.insert(set, '_idh'); table.insert(set, string.format('%d', hour))
  redis.call('ZREMRANGEBYSCORE', ids, '-inf', now - {IDS_KEEP_MS})
  redis.call('PEXPIRE', ids, {IDS_KEEP_MS} + 3600000)
end
if hour ~= receive_hour then
  table.insert(set, '_rh'); table.insert(set, string.format('%d', hour))
  redis.call('PEXPIRE', agg, {AGG_TTL_MS})
end
if #set > 0 then redis.call('HSET', agg, unpack(set)) end
-- a new hour of event time: drop the buckets every resolution has let go of
if newest >= 0 and math.floor(at / 3600000) > math.floor(newest / 3600000) then
  local keep = {}
  for _, r in ipairs(RES) do keep[r[1]] = {r[2], r[3]} end
  local dead = {}
  for _, f in ipairs(redis.call('HKEYS', agg)) do
    local res, b = string.match(f, ':[cs]:(%a)(%d+)$')
    if res and keep[res] and tonumber(b) <= math.floor(at / keep[res][1]) - keep[res][2] then
      table.insert(dead, f)
    end
  end
  for i = 1, #dead, 500 do
    redis.call('HDEL', agg, unpack(dead, i, math.min(i + 499, #dead)))
  end
end
if entry ~= '' then
  redis.call('LPUSH', hist, entry)
  redis.call('LTRIM', hist, 0, {HISTORY_LEN} - 1)
  redis.call('EXPIRE', hist, {HISTORY_TTL_S})
  if archive then redis.call('XADD', archive, '*', 'c', ARGV[9], 'e', entry) end
end
return 1
"""


def _render(template: str, values: Mapping[str, object]) -> str:
    """Fill ``{NAME}`` placeholders (Lua's own braces stay untouched)."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", str(value))
    return template


_RECORD_SCRIPT = _render(
    _RECORD_TEMPLATE,
    {
        "RESOLUTIONS": ", ".join(f"{{'{r}', {size}, {keep}}}" for r, size, keep in RESOLUTIONS),
        "IDS_KEEP_MS": EVENT_IDS_KEEP_MS,
        "AGG_TTL_MS": AGGREGATES_TTL_MS,
        "HISTORY_LEN": HISTORY_LENGTH,
        "HISTORY_TTL_S": HISTORY_TTL_S,
    },
)


class RedisEvents:
    """Records customer events (one script each) and reads and erases what they left behind.

    Parameters
    ----------
    history_skip
        Event types not written to the customer's history (none by default; page views on a
        busy site could crowd out the decisions and outcomes an agent wants to see); they still
        count in the aggregates.
    """

    def __init__(self, client: Any, keys: Keys, *, history_skip: Iterable[str] = ()) -> None:
        self.history_skip = frozenset(history_skip)
        self._redis = client
        self._keys = keys
        self._script = client.register_script(_RECORD_SCRIPT)
        self._cluster = is_cluster(client)

    def _call(self, event: CustomerEvent, now_ms: int) -> tuple[list[str], list[Any]]:
        k = self._keys
        value = event.value
        entry = b"" if event.type in self.history_skip else orjson.dumps(event.history_entry())
        keys = [
            k.aggregates(event.customer_id),
            k.event_ids(event.customer_id),
            k.history(event.customer_id),
        ]
        if not self._cluster:  # one slot per script on a cluster: the copy goes apart
            keys.append(k.archive(k.shard_of(event.customer_id)))
        args: list[Any] = [
            event.id or "",
            event.type,
            event.name or "",
            event.at_ms,
            "" if value is None else repr(value),
            event.channel or "",
            now_ms,
            entry,
            event.customer_id,
        ]
        return keys, args

    async def record(self, event: CustomerEvent, *, now_ms: int | None = None) -> bool:
        """Count one event; False when its id was seen before (then nothing changed).

        ``now_ms`` is the receive time that starts the id's 31-day memory (default: now).
        """
        keys, args = self._call(event, _now_ms() if now_ms is None else now_ms)
        with map_redis_errors():
            reply = await self._script(keys=keys, args=args)
        await self._archive_apart([event], [bool(reply)], [args])
        return bool(reply)

    async def record_many(
        self, events: Sequence[CustomerEvent], *, now_ms: int | None = None
    ) -> list[bool]:
        """Count many events in one round trip; one flag per event, as :meth:`record` returns.

        Each event is its own atomic script (a pipeline, not a transaction): if Redis fails
        midway, the events before the failure are counted and a retry with the same ids counts
        each of them once.
        """
        if not events:
            return []
        now = _now_ms() if now_ms is None else now_ms
        calls = [self._call(event, now) for event in events]
        with map_redis_errors():
            if self._cluster:  # no scripts in a cluster pipeline: concurrent calls instead
                replies = await asyncio.gather(
                    *(self._script(keys=keys, args=args) for keys, args in calls)
                )
            else:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for keys, args in calls:
                        await self._script(keys=keys, args=args, client=pipe)
                    replies = await pipe.execute()
        recorded = [bool(r) for r in replies]
        await self._archive_apart(events, recorded, [args for _, args in calls])
        return recorded

    async def _archive_apart(
        self, events: Sequence[CustomerEvent], recorded: Sequence[bool], args: Sequence[list[Any]]
    ) -> None:
        """On a cluster, the archive copies of new history lines, after the scripts.

        Not atomic with them: a crash in between leaves those lines in Redis's history but not
        in the SQL archive (single Redis appends the copy inside the script).
        """
        if not self._cluster:
            return
        k = self._keys
        with map_redis_errors():
            async with self._redis.pipeline(transaction=False) as pipe:
                for event, new, call in zip(events, recorded, args, strict=True):
                    if new and call[7]:
                        stream = k.archive(k.shard_of(event.customer_id))
                        pipe.xadd(stream, {"c": event.customer_id, "e": call[7]})
                await pipe.execute()

    async def raw(self, customer_id: str) -> dict[str, str]:
        """The aggregates hash as stored (read it with ``aggregate_features``)."""
        with map_redis_errors():
            raw = await self._redis.hgetall(self._keys.aggregates(customer_id))
        return {_text(n): _text(v) for n, v in raw.items()}

    async def erase(self, customer_id: str) -> int:
        """Forget the customer's aggregates, seen event ids and queued outbound messages.

        Queued messages are found through the customer's index set (``keys.queued``), written
        when each message was queued, and deleted from each channel's stream with XDEL. Returns
        the number of keys and stream entries removed.
        """
        k = self._keys
        with map_redis_errors():
            members = await self._redis.smembers(k.queued(customer_id))
            by_channel: dict[str, list[str]] = {}
            for member in members:
                channel, _, stream_id = _text(member).rpartition("|")
                by_channel.setdefault(channel, []).append(stream_id)
            removed = 0
            for channel, stream_ids in by_channel.items():
                removed += int(await self._redis.xdel(k.outbound(channel), *stream_ids))
            removed += int(
                await self._redis.delete(
                    k.aggregates(customer_id), k.event_ids(customer_id), k.queued(customer_id)
                )
            )
        return removed


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
