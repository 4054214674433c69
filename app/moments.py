"""The process's event handler (:class:`decisioning.Moments`) and the scheduled date scan.

``scan_dates`` is what a scheduler calls every few minutes (the learner process): it walks the
customers' features and turns birthdays today and contracts ending soon into events, through the
same path as ``POST /v1/events``; their ids are deterministic, so rescanning counts once. A
customer's date moments are emitted between 9 and 21 h their local time (``utc_offset_h``), when
outbound contact is allowed, so a scan every few minutes during the day catches everyone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from decisioning import Moments, SqlTriggers, TriggerBook, date_events
from feature_store import scan_features

if TYPE_CHECKING:  # the runtime may schedule scan_dates: no import cycle at run time
    from .runtime import Runtime

__all__ = ["moments_of", "scan_dates"]

DATE_FEATURES = ("birthday", "contract_end", "utc_offset_h")


def moments_of(runtime: Runtime) -> Moments:
    """The runtime's :class:`Moments`, built on first use and kept with the runtime.

    Its trigger book caches the active triggers per worker, so it must live as long as the
    runtime. (Until ``Runtime`` holds one itself, it is kept in the runtime's ``__dict__``.)
    """
    held = vars(runtime).get("_moments")
    if isinstance(held, Moments):
        return held
    moments = Moments(
        events=runtime.store.events,
        outbound=runtime.store.outbound,
        customers=runtime.store.customers,
        decider=runtime.decider,
        triggers=TriggerBook(SqlTriggers(runtime.engine)),
    )
    vars(runtime)["_moments"] = moments
    return moments


async def scan_dates(runtime: Runtime, now: datetime | None = None) -> int:
    """Emit today's date-driven events (birthdays, contract ends); returns how many were new."""
    now = now or datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    moments = moments_of(runtime)
    new = 0
    settings = runtime.settings
    pages = scan_features(
        runtime.store.client,
        runtime.store.keys,
        DATE_FEATURES,
        page=settings.date_scan_page,
        rate=settings.date_scan_rate or None,
    )
    async for page in pages:
        events = [
            event
            for customer_id, features in page
            for event in date_events(
                customer_id, features, now, contract_days=settings.contract_end_days
            )
        ]
        if events:
            receipts = await moments.handle_many(events, now_ms=now_ms)
            new += sum(1 for r in receipts if r.status == "recorded")
    return new
