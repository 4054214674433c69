"""Real-time event aggregates as flat customer features, computed from the raw hash.

The Redis side (:mod:`feature_store.events`) keeps time buckets per event type; this pure
function turns them into the features rules and the model read, at a given ``now_ms``, so a
decision pays one HGETALL and a few microseconds of Python, and tests control the clock.

Features, for each event type ``T`` seen (and always for :data:`STANDARD_TYPES`, as zeros, so a
rule such as ``complaint_count_30d lt 1`` holds for a customer who never complained):

- ``T_count_1h``, ``T_count_24h``, ``T_count_7d``, ``T_count_30d``: events in the window
- ``T_sum_1h`` ... ``T_sum_30d``: the sum of their ``value`` / ``amount`` (for types that ever
  carried one, and always for ``purchase``)
- ``T_recency_s``: seconds since the newest one (absent when never seen)
- ``T_last_name``: the ``name`` of the newest one, when it had one (``marriage``, ``birthday``)
- ``last_channel``: ``properties.channel`` of the newest event that named one
- ``last_event_type``: the type of the newest event
- ``open_complaint``: a ``complaint`` newer than the last ``complaint_resolved``

Each window is summed from its own resolution (minutes for 1 h, hours for 24 h, quarter days for
7 d, days for 30 d), so a window is exact to one bucket: 1/60 to 1/24 of its length.

Examples
--------
>>> now = 1_700_000_000_000
>>> raw = {
...     "complaint:c:m28333333": "1", "complaint:c:h472222": "1", "complaint:c:q78703": "1",
...     "complaint:c:d19675": "1", "complaint:last": str(now - 60_000), "_ch": "call_center",
... }
>>> f = aggregate_features(raw, now)
>>> f["complaint_count_1h"], f["complaint_count_30d"], f["complaint_recency_s"]
(1, 1, 60)
>>> f["open_complaint"], f["last_channel"], f["purchase_count_24h"]
(True, 'call_center', 0)
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from feature_store.events import DAY_MS, HOUR_MS, MINUTE_MS

__all__ = ["STANDARD_TYPES", "WINDOWS", "aggregate_features"]

STANDARD_TYPES = ("page_view", "purchase", "complaint", "life_event", "contract_end")
"""Types whose counts are always present (zero when never seen)."""

VALUED_TYPES = ("purchase",)
"""Types whose sums are always present."""

WINDOWS: tuple[tuple[str, str, int, int], ...] = (
    ("1h", "m", MINUTE_MS, HOUR_MS),
    ("24h", "h", HOUR_MS, DAY_MS),
    ("7d", "q", 6 * HOUR_MS, 7 * DAY_MS),
    ("30d", "d", DAY_MS, 30 * DAY_MS),
)
"""``(suffix, resolution, bucket ms, window ms)``."""

Feature = float | int | str | bool


def aggregate_features(raw_hash: Mapping[str, str], now_ms: int) -> dict[str, Feature]:
    """Flat features from a customer's aggregates hash, as of ``now_ms`` (pure: no Redis).

    One pass over the fields, adding each bucket to its window if it falls in it: this runs on
    every decision, so it does as little as possible per field.
    """
    # each resolution feeds one window: (window index, first bucket in it)
    first_of: dict[str, tuple[int, int]] = {
        resolution: (n, now_ms // size_ms - window_ms // size_ms + 1)
        for n, (_suffix, resolution, size_ms, window_ms) in enumerate(WINDOWS)
    }
    totals: dict[tuple[str, str, int], float] = {}
    last: dict[str, int] = {}
    names: dict[str, str] = {}
    valued = set(VALUED_TYPES)
    for field, text in raw_hash.items():
        parts = field.split(":")
        try:
            if len(parts) == 3:  # T:c:h472222
                window = first_of.get(parts[2][:1])
                if window is not None and int(parts[2][1:]) >= window[1]:
                    key = (parts[0], parts[1], window[0])
                    totals[key] = totals.get(key, 0.0) + float(text)
            elif len(parts) == 2:
                kind, what = parts
                if what == "last":
                    last[kind] = int(text)
                elif what == "name":
                    names[kind] = text
                elif what == "v":
                    valued.add(kind)
        except ValueError:
            continue  # not a field this version wrote: ignore rather than fail a decision

    out: dict[str, Feature] = {}
    for kind in sorted(set(STANDARD_TYPES) | set(last) | {k for k, _, _ in totals}):
        counts, sums, recency, last_name = _names(kind)
        for n, name in enumerate(counts):
            out[name] = int(totals.get((kind, "c", n), 0))
        if kind in valued:
            for n, name in enumerate(sums):
                out[name] = round(totals.get((kind, "s", n), 0.0), 6)
        if kind in last:
            out[recency] = max(0, now_ms - last[kind]) // 1000
        if kind in names:
            out[last_name] = names[kind]
    if "_ch" in raw_hash:
        out["last_channel"] = raw_hash["_ch"]
    if "_type" in raw_hash:
        out["last_event_type"] = raw_hash["_type"]
    out["open_complaint"] = last.get("complaint", -1) > last.get("complaint_resolved", -1)
    return out


@lru_cache(maxsize=1024)
def _names(kind: str) -> tuple[tuple[str, ...], tuple[str, ...], str, str]:
    """The feature names of an event type (built once: formatting them is most of the cost)."""
    return (
        tuple(f"{kind}_count_{w[0]}" for w in WINDOWS),
        tuple(f"{kind}_sum_{w[0]}" for w in WINDOWS),
        f"{kind}_recency_s",
        f"{kind}_last_name",
    )
