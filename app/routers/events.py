"""``/v1/events``: what customers do and what happens to them, one at a time or in bulk."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends

from decisioning import EventReceipt, InvalidInput
from feature_store import CustomerEvent

from ..deps import RuntimeDep, require_role
from ..moments import moments_of
from ..schemas import (
    MAX_AMOUNT,
    EventBody,
    EventReceiptView,
    EventsBulkBody,
    EventsBulkView,
    OutboundResultView,
)

router = APIRouter(prefix="/v1/events", tags=["events"])

Channel = Depends(require_role("channel"))

MAX_FUTURE = timedelta(hours=1)
"""An event may be dated this far ahead of our clock (the sender's clock may be off a little)."""

MIN_AT = datetime(2000, 1, 1, tzinfo=UTC)
"""Older dates are mistakes (a zero timestamp, a year typed as 0202), not events."""

_CHANNEL = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def to_event(body: EventBody, now: datetime, where: str = "") -> CustomerEvent:
    """The domain event, or InvalidInput naming ``<where>field`` (nothing is written then)."""
    at = now
    if body.at is not None:
        at = body.at if body.at.tzinfo is not None else body.at.replace(tzinfo=UTC)
        if at < MIN_AT:
            raise InvalidInput(f"{where}at", f"{at.isoformat()} is before {MIN_AT.date()}")
        if at - now > MAX_FUTURE:
            raise InvalidInput(
                f"{where}at",
                f"{at.isoformat()} is more than {MAX_FUTURE} ahead of the server's clock "
                f"({now.isoformat()})",
            )
    channel = body.properties.get("channel")
    if channel is not None and not (isinstance(channel, str) and _CHANNEL.match(channel)):
        raise InvalidInput(
            f"{where}properties.channel", f"{channel!r} is not a channel name (web, email...)"
        )
    for name in ("value", "amount"):  # summed in the aggregates
        amount = body.properties.get(name)
        if amount is None:
            continue
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            raise InvalidInput(
                f"{where}properties.{name}", f"is summed, so it must be a number, not {amount!r}"
            )
        if abs(amount) > MAX_AMOUNT:
            raise InvalidInput(
                f"{where}properties.{name}",
                f"{amount:g} is too large to sum: at most {MAX_AMOUNT:g} in size",
            )
    return CustomerEvent(
        customer_id=body.customer_id,
        type=body.type,
        at_ms=int(at.timestamp() * 1000),
        id=body.id,
        name=body.name,
        properties={k: v for k, v in body.properties.items() if v is not None},
    )


def _outbound(receipts: Sequence[EventReceipt]) -> list[OutboundResultView]:
    return [
        OutboundResultView(customer_id=r.customer_id, **asdict(o))
        for r in receipts
        for o in r.outbound
    ]


@router.post("", status_code=202, response_model=EventReceiptView, dependencies=[Channel])
async def post_event(body: EventBody, runtime: RuntimeDep) -> EventReceiptView:
    """Count the event in the customer's aggregates and run the triggers it matches."""
    now = datetime.now(UTC)
    receipt = await moments_of(runtime).handle(
        to_event(body, now), now_ms=int(now.timestamp() * 1000)
    )
    return EventReceiptView(
        customer_id=receipt.customer_id,
        type=receipt.type,
        id=receipt.id,
        status="recorded" if receipt.status == "recorded" else "duplicate",
        outbound=_outbound([receipt]),
    )


@router.post("/bulk", status_code=202, response_model=EventsBulkView, dependencies=[Channel])
async def post_events(body: EventsBulkBody, runtime: RuntimeDep) -> EventsBulkView:
    """Up to 1000 events; all are validated before any is written (a bad one: 422, nothing)."""
    now = datetime.now(UTC)
    events = [to_event(e, now, f"events[{n}].") for n, e in enumerate(body.events)]
    receipts = await moments_of(runtime).handle_many(events, now_ms=int(now.timestamp() * 1000))
    recorded = sum(1 for r in receipts if r.status == "recorded")
    return EventsBulkView(
        received=len(receipts),
        recorded=recorded,
        duplicates=len(receipts) - recorded,
        outbound=_outbound(receipts),
    )
