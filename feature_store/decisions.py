"""The decision log and the outcome join: what makes learning exactly-once.

A decision is logged as one hash (context features as they were at decision time, and for each
shown offer its attributes, the probability it was chosen with and its outcome window). An outcome
is joined with that hash *inside Redis* by one Lua script, which also deduplicates it, marks it,
removes it from the window queue, counts it and appends the joined record to the outcome stream.
The decision hash, the stream, the window queue and the counters share one hash slot
(``{o:<shard>}``), so the script is atomic on a single server and on Redis Cluster alike: an
outcome is either fully recorded and streamed, or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from .client import is_cluster
from .customers import HISTORY_LENGTH, HISTORY_TTL_S
from .errors import map_redis_errors
from .keys import Keys
from .wire import Wire

__all__ = [
    "ContactReservation",
    "DecisionEntry",
    "OutcomeResult",
    "RedisDecisionLog",
    "ShownOffer",
]


@dataclass(frozen=True, slots=True)
class ShownOffer:
    offer_id: str
    attributes: Mapping[str, Any]
    """The offer as the model saw it (``offer.``-prefixed example keys)."""
    probability: float
    explored: bool
    window_s: int | None
    default_outcome: str | None
    propensity: float | None = None
    """The model's acceptance probability served with the decision (for AUC, calibration)."""


@dataclass(frozen=True, slots=True)
class DecisionEntry:
    decision_id: str
    customer_id: str
    channel: str
    interaction: str
    at_ms: int
    model_version: int
    control_group: bool
    context: Mapping[str, Any]
    shown: Sequence[ShownOffer]
    candidates: Sequence[str] | None = None
    """The eligible offers the choice was made among, logged for control-group decisions: with
    the uniform probability they let any policy be evaluated off-line (IPS) on those decisions."""


@dataclass(frozen=True, slots=True)
class OutcomeResult:
    """``status``: recorded, duplicate, conflict, late, unknown_decision, not_shown, closed."""

    status: str
    previous: str | None = None
    stream_id: str | None = None
    customer_id: str | None = None


_OUTCOME_SCRIPT = """
local dkey, skey, pkey, statkey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local did, oid, outcome, now, value, source =
    ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]
if redis.call('EXISTS', dkey) == 0 then return {'unknown_decision'} end
local function stream_late(late_outcome)
  return redis.call('XADD', skey, '*',
    'd', did, 'o', oid, 'y', late_outcome, 'l', '0', 'src', 'late', 'v', value,
    'x', redis.call('HGET', dkey, 'x'), 'a', redis.call('HGET', dkey, 'a:' .. oid),
    'p', redis.call('HGET', dkey, 'p:' .. oid) or '', 'c', redis.call('HGET', dkey, 'customer'),
    'q', redis.call('HGET', dkey, 'q:' .. oid) or '',
    'ch', redis.call('HGET', dkey, 'channel'), 'ctl', redis.call('HGET', dkey, 'control'),
    'mv', redis.call('HGET', dkey, 'mv'), 't', redis.call('HGET', dkey, 'at'),
    'e', redis.call('HGET', dkey, 'e:' .. oid) or '0', 'k', redis.call('HGET', dkey, 'cands') or '')
end
local attrs = redis.call('HGET', dkey, 'a:' .. oid)
if not attrs then return {'not_shown'} end
local prev = redis.call('HGET', dkey, 'out:' .. oid)
if prev then
  if source == 'window' then return {'closed', prev} end
  if redis.call('HGET', dkey, 'src:' .. oid) == 'response' then
    if prev == outcome then return {'duplicate', prev} end
    return {'conflict', prev}
  end
  local late = redis.call('HGET', dkey, 'late:' .. oid)
  if late then
    if late == outcome then return {'duplicate', late} end
    return {'conflict', late}
  end
  redis.call('HSET', dkey, 'late:' .. oid, outcome)
  redis.call('HINCRBY', statkey, 'late:' .. oid, 1)
  local late_id = stream_late(outcome)
  return {'late', prev, late_id, redis.call('HGET', dkey, 'customer')}
end
local deadline = tonumber(redis.call('HGET', dkey, 'w:' .. oid) or '0')
local late_response = nil
if source == 'response' and deadline > 0 and now > deadline then
  late_response = outcome
  source = 'window'
end
local learn = '1'
if source == 'window' then
  local default = redis.call('HGET', dkey, 'd:' .. oid) or ''
  if default == '' then outcome = 'expired'; learn = '0' else outcome = default end
end
redis.call('HSET', dkey, 'out:' .. oid, outcome, 'src:' .. oid, source, 'v:' .. oid, value)
redis.call('ZREM', pkey, did .. '|' .. oid)
local control = redis.call('HGET', dkey, 'control')
redis.call('HINCRBY', statkey, outcome .. ':' .. oid, 1)
local hour = 'h:' .. math.floor(tonumber(redis.call('HGET', dkey, 'at') or now) / 3600000) .. ':'
redis.call('HINCRBY', statkey, hour .. outcome, 1)
if control == '1' then
  redis.call('HINCRBY', statkey, 'control:' .. outcome, 1)
  redis.call('HINCRBY', statkey, hour .. 'control:' .. outcome, 1)
end
local id = redis.call('XADD', skey, '*',
  'd', did, 'o', oid, 'y', outcome, 'l', learn, 'src', source, 'v', value,
  'x', redis.call('HGET', dkey, 'x'), 'a', attrs,
  'p', redis.call('HGET', dkey, 'p:' .. oid) or '', 'c', redis.call('HGET', dkey, 'customer'),
  'q', redis.call('HGET', dkey, 'q:' .. oid) or '',
  'ch', redis.call('HGET', dkey, 'channel'), 'ctl', control, 'mv', redis.call('HGET', dkey, 'mv'),
  't', redis.call('HGET', dkey, 'at'), 'e', redis.call('HGET', dkey, 'e:' .. oid) or '0',
  'k', redis.call('HGET', dkey, 'cands') or '')
if late_response then
  redis.call('HSET', dkey, 'late:' .. oid, late_response)
  redis.call('HINCRBY', statkey, 'late:' .. oid, 1)
  stream_late(late_response)
  return {'late', outcome, id, redis.call('HGET', dkey, 'customer')}
end
return {'recorded', outcome, id, redis.call('HGET', dkey, 'customer')}
"""


@dataclass(frozen=True, slots=True)
class ContactReservation:
    """What a decision takes from the customer's contact capacity.

    ``caps``: ``(offer_id, max_impressions, window_ms)`` for each shown offer with a cap;
    ``outbound``: ``(channel, limit, window_ms)`` when the channel is outbound.
    """

    caps: Sequence[tuple[str, int, int]] = ()
    outbound: tuple[str, int, int] | None = None
    ttl_s: int = 90 * 86400


# The decision's write, in two halves: what the customer's slot holds (contact capacity and the
# history line) and what the decision's slot holds (its log, window queue, counters and the
# archive copy of the history line). One Redis runs both as one atomic script; Redis Cluster,
# where one script may touch one slot only, runs them one after the other (reserve, then log).
_DECIDE_HEAD = f"""
local now = tonumber(ARGV[1])
local p = cjson.decode(ARGV[2])
local HISTORY_LENGTH, HISTORY_TTL_S = {HISTORY_LENGTH}, {HISTORY_TTL_S}
"""
_RESERVE = """
local function recent(field, window)
  local raw = redis.call('HGET', contacts, field)
  local kept = {}
  if raw then
    for _, t in ipairs(cjson.decode(raw)) do
      if t > now - window then table.insert(kept, t) end
    end
  end
  return kept
end
local updates = {}
for _, cap in ipairs(p.caps) do
  local kept = recent('imp:' .. cap[1], cap[3])
  if #kept >= cap[2] then return cap[1] end
  table.insert(kept, now)
  table.insert(updates, {'imp:' .. cap[1], kept})
end
if p.outbound then
  local kept = recent('out:' .. p.outbound[1], p.outbound[3])
  if #kept >= p.outbound[2] then return 'outbound:' .. p.outbound[1] end
  table.insert(kept, now)
  table.insert(updates, {'out:' .. p.outbound[1], kept})
end
for _, u in ipairs(updates) do redis.call('HSET', contacts, u[1], cjson.encode(u[2])) end
for _, offer in ipairs(p.shown) do redis.call('HSET', contacts, 'last:' .. offer, now) end
if #p.shown > 0 then redis.call('EXPIRE', contacts, p.contacts_ttl) end
if p.history then
  redis.call('LPUSH', history, p.history)
  redis.call('LTRIM', history, 0, HISTORY_LENGTH - 1)
  redis.call('EXPIRE', history, HISTORY_TTL_S)
end
"""
_LOG = """
if #p.fields > 0 then
  redis.call('HSET', dkey, unpack(p.fields))
  redis.call('EXPIRE', dkey, p.ttl)
end
local i = 1
while i < #p.pending do
  redis.call('ZADD', pkey, p.pending[i + 1], p.pending[i])
  i = i + 2
end
for _, name in ipairs(p.stats) do redis.call('HINCRBY', statkey, name, 1) end
if p.history then redis.call('XADD', archive, '*', 'c', p.customer, 'e', p.history) end
"""
_DECIDE_SCRIPT = (
    "local contacts, history, dkey, pkey, statkey, archive ="
    " KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]"
    + _DECIDE_HEAD
    + _RESERVE
    + _LOG
    + "return ''"
)
_RESERVE_SCRIPT = (
    "local contacts, history = KEYS[1], KEYS[2]" + _DECIDE_HEAD + _RESERVE + "return ''"
)
_LOG_SCRIPT = (
    "local dkey, pkey, statkey, archive = KEYS[1], KEYS[2], KEYS[3], KEYS[4]"
    + _DECIDE_HEAD
    + _LOG
    + "return ''"
)


class RedisDecisionLog:
    """Implements :class:`feature_store.base.DecisionLog` on Redis."""

    def __init__(
        self, client: Any, keys: Keys, *, ttl_s: int = 2 * 86400, wire: Wire | None = None
    ) -> None:
        self._redis = client
        self._keys = keys
        self._ttl_s = ttl_s
        self._wire = wire
        """Runs the log script of every decision, if given (see :mod:`feature_store.wire`)."""
        self._cluster = is_cluster(client)
        self._outcome_script = client.register_script(_OUTCOME_SCRIPT)
        self._decide_script = client.register_script(_DECIDE_SCRIPT)
        self._reserve_script = client.register_script(_RESERVE_SCRIPT)
        self._log_script = client.register_script(_LOG_SCRIPT)

    def shard_of(self, decision_id: str) -> int:
        return self._keys.shard_of(decision_id)

    async def record(
        self,
        entry: DecisionEntry,
        history: Mapping[str, Any] | None = None,
        contacts: ContactReservation | None = None,
    ) -> str | None:
        """Reserve contact capacity and log the decision, atomically, in one round trip.

        One Lua script checks every shown offer's impression cap and the channel's outbound limit
        in the customer's contact record and, only if all hold, counts the contacts and writes the
        decision log, its window entries, the counters and the history line (also appended to the
        archive stream, for SQL). Concurrent decisions
        for one customer therefore never exceed a cap. Returns None when logged, or the offer id
        (or ``outbound:<channel>``) whose limit refused it; then nothing was written.

        The script spans the customer's slot and the decision's slot, which a single Redis
        allows; on Redis Cluster its two halves run as two calls (reserve, then log).
        """
        k = self._keys
        shard = k.shard_of(entry.decision_id)
        fields: dict[str, Any] = {
            "customer": entry.customer_id,
            "channel": entry.channel,
            "interaction": entry.interaction,
            "at": entry.at_ms,
            "mv": entry.model_version,
            "control": "1" if entry.control_group else "0",
            "x": orjson.dumps(entry.context).decode(),
            "offers": orjson.dumps([s.offer_id for s in entry.shown]).decode(),
        }
        if entry.candidates is not None:
            fields["cands"] = orjson.dumps(list(entry.candidates)).decode()
        pending: dict[str, int] = {}
        ttl_s = self._ttl_s
        for s in entry.shown:
            fields[f"a:{s.offer_id}"] = orjson.dumps(s.attributes).decode()
            fields[f"p:{s.offer_id}"] = repr(s.probability)
            fields[f"e:{s.offer_id}"] = "1" if s.explored else "0"
            fields[f"d:{s.offer_id}"] = s.default_outcome or ""
            if s.propensity is not None:
                fields[f"q:{s.offer_id}"] = repr(s.propensity)
            if s.window_s:
                deadline = entry.at_ms + s.window_s * 1000
                fields[f"w:{s.offer_id}"] = deadline
                pending[f"{entry.decision_id}|{s.offer_id}"] = deadline
                ttl_s = max(ttl_s, s.window_s + 86400)
        hour = entry.at_ms // 3_600_000
        stats = [f"shown:{s.offer_id}" for s in entry.shown] + ["decisions", f"h:{hour}:decisions"]
        if entry.control_group:
            stats += ["control:decisions", f"h:{hour}:control:decisions"]
        if any(s.explored for s in entry.shown) and not entry.control_group:
            stats.append("explored")
        reservation = contacts or ContactReservation()
        payload = {
            "caps": [list(c) for c in reservation.caps],
            "outbound": list(reservation.outbound) if reservation.outbound else False,
            "shown": [s.offer_id for s in entry.shown],
            "fields": [str(x) for kv in fields.items() for x in kv],
            "pending": [str(x) for kv in pending.items() for x in kv],
            "stats": stats,
            "history": orjson.dumps(history).decode() if history is not None else False,
            "customer": entry.customer_id,
            "ttl": ttl_s,
            "contacts_ttl": reservation.ttl_s,
        }
        keys = [
            k.contacts(entry.customer_id),
            k.history(entry.customer_id),
            k.decision(entry.decision_id, shard),
            k.pending(shard),
            k.stats(shard),
            k.archive(shard),
        ]
        args: list[int | bytes] = [entry.at_ms, orjson.dumps(payload)]
        with map_redis_errors():
            if self._cluster:
                # a crash between the halves leaves capacity reserved for a decision never
                # logged: it errs towards contacting the customer less, never more
                reply = await self._reserve_script(keys=keys[:2], args=args)
                if not reply:
                    await self._log_script(keys=keys[2:], args=args)
            elif self._wire is not None:
                reply = await self._wire.evalsha(self._decide_script, keys, args)
            else:
                reply = await self._decide_script(keys=keys, args=args)
        refused = _text(reply) if reply else ""
        return refused or None

    async def get(self, decision_id: str) -> dict[str, str] | None:
        k = self._keys
        with map_redis_errors():
            raw = await self._redis.hgetall(k.decision(decision_id, k.shard_of(decision_id)))
        if not raw:
            return None
        return {_text(a): _text(b) for a, b in raw.items()}

    async def record_outcome(
        self,
        decision_id: str,
        offer_id: str,
        outcome: str,
        *,
        now_ms: int,
        value: float | None = None,
        source: str = "response",
    ) -> OutcomeResult:
        """Join, deduplicate and stream one outcome atomically (see the module docstring)."""
        k = self._keys
        shard = k.shard_of(decision_id)
        keys = [
            k.decision(decision_id, shard),
            k.outcomes(shard),
            k.pending(shard),
            k.stats(shard),
        ]
        args = [
            decision_id,
            offer_id,
            outcome,
            now_ms,
            "" if value is None else repr(value),
            source,
        ]
        with map_redis_errors():
            reply = await self._outcome_script(keys=keys, args=args)
        parts = [_text(p) for p in reply]
        return OutcomeResult(
            status=parts[0],
            previous=parts[1] if len(parts) > 1 else None,
            stream_id=(parts[2] or None) if len(parts) > 2 else None,
            customer_id=parts[3] if len(parts) > 3 else None,
        )

    async def forget(self, decision_ids: Iterable[str]) -> int:
        """Delete these decisions' logs (a customer's erasure); returns how many existed.

        An outcome for a forgotten decision is then for an unknown decision, so nothing of the
        erased customer is joined, streamed, learned or archived again. Their window entries are
        dropped by ``close_due_windows`` when due (it removes entries of unknown decisions).
        """
        k = self._keys
        by_shard: dict[int, set[str]] = {}
        for decision_id in decision_ids:
            shard = k.shard_of(decision_id)
            by_shard.setdefault(shard, set()).add(k.decision(decision_id, shard))
        removed = 0
        with map_redis_errors():
            for shard_keys in by_shard.values():  # one slot per DEL, also on a cluster
                keys = sorted(shard_keys)
                for start in range(0, len(keys), 500):
                    removed += int(await self._redis.delete(*keys[start : start + 500]))
        return removed

    async def close_due_windows(self, now_ms: int, *, limit: int = 1000) -> int:
        """Apply the default outcome to every shown offer whose outcome window has passed."""
        k = self._keys
        closed = 0
        for shard in range(k.shards):
            with map_redis_errors():
                due = await self._redis.zrangebyscore(
                    k.pending(shard), "-inf", now_ms, start=0, num=limit
                )
            for member in due:
                decision_id, _, offer_id = _text(member).partition("|")
                result = await self.record_outcome(
                    decision_id, offer_id, "ignored", now_ms=now_ms, source="window"
                )
                if result.status in ("unknown_decision", "not_shown"):
                    with map_redis_errors():
                        await self._redis.zrem(k.pending(shard), member)
                closed += 1
        return closed

    async def forget_hours(self, before_hour: int, *, page: int = 1000) -> int:
        """Drop the hourly counters (``h:<hour>:...``) of hours before ``before_hour`` (hours
        since the epoch); returns how many went.

        The decision and outcome scripts add a few fields to the stats hash every hour and
        nothing else removes them: a year of them is about 80,000 fields, which every read of
        the learning metrics (``stats``, one HGETALL; the dashboard polls it) would copy, with
        Redis busy for each. Walked with HSCAN and deleted in pages, so Redis is never held.
        """
        removed = 0
        for shard in range(self._keys.shards):
            key = self._keys.stats(shard)
            old: list[str] = []
            with map_redis_errors():
                async for raw, _ in self._redis.hscan_iter(key, match="h:*", count=page):
                    name = _text(raw)
                    hour = name.split(":", 2)[1]
                    if hour.isdigit() and int(hour) < before_hour:
                        old.append(name)
                for start in range(0, len(old), page):
                    removed += await self._redis.hdel(key, *old[start : start + page])
        return removed

    async def stats(self) -> dict[str, int]:
        """Counters summed over shards: ``shown:<offer>``, ``<outcome>:<offer>``, ``control:*``."""
        total: dict[str, int] = {}
        with map_redis_errors():
            async with self._redis.pipeline(transaction=False) as pipe:
                for shard in range(self._keys.shards):
                    pipe.hgetall(self._keys.stats(shard))
                replies = await pipe.execute()
        for reply in replies:
            for name, count in reply.items():
                key = _text(name)
                total[key] = total.get(key, 0) + int(count)
        return total


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
