"""Seed demo data (``nbo serve --demo``): a telecom catalogue and synthetic customers."""

from __future__ import annotations

import asyncio

from .demo import demo_customers, demo_offers
from .runtime import Runtime

__all__ = ["seed_demo"]


async def seed_demo(runtime: Runtime, *, customers: int = 1000) -> tuple[int, int]:
    """Add the demo offers that are missing and (re)write the demo customers."""
    source = runtime.catalogue.source
    existing = {offer_id for offer_id, _ in await asyncio.to_thread(source.all)}
    added = 0
    for offer in demo_offers():
        body = {k: v for k, v in offer.items() if k != "offer_id"}
        if offer["offer_id"] not in existing:
            await asyncio.to_thread(source.put, offer["offer_id"], body)
            added += 1
    if added:
        await runtime.catalogue_changed()
    people = demo_customers(customers)
    for start in range(0, len(people), 200):
        await asyncio.gather(
            *(
                runtime.store.customers.put(p["customer_id"], p["features"], p["consent"])
                for p in people[start : start + 200]
            )
        )
    return added, len(people)
