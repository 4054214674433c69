"""Erasing a customer: everything nbo holds about them, in Redis and in the SQL archive.

The profile, consent, contacts and history (Redis), aggregates, seen event ids and queued
outbound messages (Redis), the archived history and interactions (SQL), and the logs of their
decisions (Redis, kept for joining outcomes): a decision log holds the customer's features as
they were, and an outcome joined with it after the erasure would write their history and teach
the model again. The decisions are found in the customer's history, in Redis and in the archive.
"""

from __future__ import annotations

import asyncio

import orjson

from feature_store import FeatureStore

from .archive import SqlArchive

__all__ = ["erase_customer"]


async def erase_customer(
    store: FeatureStore, archive: SqlArchive, customer_id: str, *, now_ms: int
) -> bool:
    """Erase ``customer_id`` everywhere; False when nothing was stored about them."""
    lines = await store.customers.history_lines(customer_id)
    decision_ids = await asyncio.to_thread(archive.decision_ids, customer_id)
    for line in lines:
        entry = orjson.loads(line)
        if isinstance(entry, dict) and entry.get("decision_id"):
            decision_ids.add(str(entry["decision_id"]))
    forgotten = await store.decisions.forget(decision_ids)
    erased = await store.events.erase(customer_id)
    deleted = await store.customers.delete(customer_id)
    archived = await asyncio.to_thread(archive.erase, customer_id, now_ms)
    return bool(forgotten or erased or deleted or archived)
