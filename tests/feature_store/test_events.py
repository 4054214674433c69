"""Event aggregates on a real Redis: windows, duplicates and arrival order, checked against a
brute-force count over the raw events."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

from decisioning.aggregates import WINDOWS, aggregate_features
from feature_store import CustomerEvent, Keys, RedisEvents
from tests.services import on_redis

T = TypeVar("T")
DAY = 86_400_000
NOW = 1_760_000_000_000  # a fixed clock: the event times say what "now" is


def _with_events(redis_url: str, body: Callable[[RedisEvents], Awaitable[T]]) -> T:
    return on_redis(
        redis_url, lambda client, prefix: body(RedisEvents(client, Keys(prefix=prefix)))
    )


def _expected(events: list[CustomerEvent], now_ms: int) -> dict[str, Any]:
    """What the windows must say, counted the slow way from the distinct events."""
    out: dict[str, Any] = {}
    for suffix, _res, size, window in WINDOWS:
        first = now_ms // size - window // size + 1
        for e in events:
            if e.at_ms // size >= first:
                key = f"{e.type}_count_{suffix}"
                out[key] = out.get(key, 0) + 1
                if e.value is not None:
                    key = f"{e.type}_sum_{suffix}"
                    out[key] = out.get(key, 0.0) + e.value
    for e in events:
        key = f"{e.type}_recency_s"
        out[key] = min(out.get(key, 10**12), (now_ms - e.at_ms) // 1000)
    return out


def _random_events(rng: random.Random, n: int) -> list[CustomerEvent]:
    events = []
    for i in range(n):
        kind = rng.choice(["page_view", "purchase", "complaint"])
        props: dict[str, Any] = {"channel": rng.choice(["web", "app", "call_center"])}
        if kind == "purchase":
            props["value"] = rng.randint(1, 400) / 2
        events.append(
            CustomerEvent("C1", kind, NOW - rng.randint(0, 40 * DAY), id=f"e{i}", properties=props)
        )
    return events


def test_windows_match_a_brute_force_count_whatever_the_arrival_order(redis_url: str) -> None:
    events = _random_events(random.Random(7), 300)
    newest = max(e.at_ms for e in events)

    async def body(store: RedisEvents) -> list[dict[str, Any]]:
        in_order = sorted(events, key=lambda e: e.at_ms)
        shuffled = list(events)
        random.Random(8).shuffle(shuffled)
        for e in in_order:
            assert await store.record(replace(e, customer_id="A"))
        flags = await store.record_many([replace(e, customer_id="B") for e in shuffled])
        assert all(flags)
        # every event again, and the whole batch again: duplicates change nothing
        again = await store.record_many([replace(e, customer_id="B") for e in shuffled[:50]])
        assert not any(again)
        return [await store.raw("A"), await store.raw("B")]

    raw_a, raw_b = _with_events(redis_url, body)
    for now in (newest, newest + 30 * 60_000, newest + 5 * DAY):
        want = _expected(events, now)
        for raw in (raw_a, raw_b):
            got = aggregate_features(raw, now)
            for name, value in want.items():
                assert got[name] == value, (name, now)
            for name, value in got.items():
                if "_count_" in name and name not in want:
                    assert value == 0, name
    newest_event = max(events, key=lambda e: e.at_ms)
    assert aggregate_features(raw_b, newest)["last_channel"] == newest_event.channel


def test_old_buckets_are_trimmed_as_event_time_moves_on(redis_url: str) -> None:
    async def body(store: RedisEvents) -> dict[str, str]:
        for day in range(60):
            await store.record(CustomerEvent("C1", "page_view", NOW - (60 - day) * DAY))
        return await store.raw("C1")

    raw = _with_events(redis_url, body)
    kept = {res: sum(1 for f in raw if f":c:{res}" in f) for res in "mhqd"}
    assert kept["d"] <= 31 and kept["q"] <= 29 and kept["h"] <= 25, kept
    features = aggregate_features(raw, NOW - DAY)
    assert features["page_view_count_30d"] == 30
    assert features["page_view_count_7d"] == 7


def test_open_complaint_follows_event_time_not_arrival(redis_url: str) -> None:
    async def body(store: RedisEvents) -> list[dict[str, Any]]:
        seen = []
        await store.record(CustomerEvent("C1", "complaint", NOW - 3_600_000, id="k1"))
        seen.append(aggregate_features(await store.raw("C1"), NOW))
        # resolved, but the resolution is dated before the complaint: still open
        await store.record(CustomerEvent("C1", "complaint_resolved", NOW - 7_200_000))
        seen.append(aggregate_features(await store.raw("C1"), NOW))
        await store.record(CustomerEvent("C1", "complaint_resolved", NOW - 60_000))
        seen.append(aggregate_features(await store.raw("C1"), NOW))
        return seen

    opened, early_resolution, resolved = _with_events(redis_url, body)
    assert opened["open_complaint"] is True
    assert opened["complaint_count_1h"] == 0 and opened["complaint_count_24h"] == 1
    assert early_resolution["open_complaint"] is True
    assert resolved["open_complaint"] is False
    assert resolved["last_event_type"] == "complaint_resolved"


def test_a_customer_without_events_has_zero_counts() -> None:
    features = aggregate_features({}, NOW)
    assert features["complaint_count_30d"] == 0 and features["purchase_sum_30d"] == 0.0
    assert features["open_complaint"] is False
    assert "purchase_recency_s" not in features and "last_channel" not in features
