"""Moments: customer events recorded, and the outbound triggers they match run through the funnel.

An event (a purchase, a complaint, a marriage, a contract about to end) is counted once in the
customer's real-time aggregates; if it is fresh and matches an active trigger, the funnel decides
for the trigger's outbound channel, exactly as for any other decision (eligibility, consent,
quiet hours, weekly limits, caps, the model), and what it shows is queued for that channel's
senders and written to the customer's history. Date-driven moments (birthdays, contract ends)
come from :func:`date_events`, which a scheduled scan turns into events with deterministic ids,
so scanning twice counts once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from feature_store import (
    CustomerEvent,
    CustomerFeatures,
    EventStore,
    OutboundQueue,
    StoreError,
)

from .catalogue import Catalogue
from .funnel import Decider, DecisionRequest, DecisionResult
from .offers import Offer
from .triggers import Trigger, TriggerBook

__all__ = ["EventReceipt", "Moments", "OutboundResult", "date_events"]

log = logging.getLogger("nbo.moments")

TRIGGER_MAX_AGE_S = 86400
"""Triggers fire for events up to this old: a backfill of last year's events sends nothing."""


@dataclass(frozen=True, slots=True)
class OutboundResult:
    """What one trigger did for one event: queued a message, or why not."""

    trigger_id: str
    channel: str
    queued: bool
    decision_id: str | None = None
    offer_id: str | None = None
    stream_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class EventReceipt:
    customer_id: str
    type: str
    id: str | None
    status: str
    """recorded | duplicate"""
    outbound: list[OutboundResult] = field(default_factory=list)


class Moments:
    """Records events and runs the outbound triggers they match (one instance per process)."""

    def __init__(
        self,
        *,
        events: EventStore,
        outbound: OutboundQueue,
        customers: CustomerFeatures,
        decider: Decider,
        triggers: TriggerBook,
        max_age_s: int = TRIGGER_MAX_AGE_S,
        concurrency: int = 16,
    ) -> None:
        self.max_age_s = max_age_s
        self.concurrency = concurrency
        self.events = events
        self.outbound = outbound
        self.customers = customers
        self.decider = decider
        self.triggers = triggers

    async def handle(self, event: CustomerEvent, *, now_ms: int) -> EventReceipt:
        recorded = await self.events.record(event, now_ms=now_ms)
        return await self._after(event, recorded, now_ms)

    async def handle_many(
        self, events: Sequence[CustomerEvent], *, now_ms: int
    ) -> list[EventReceipt]:
        """Record all events in one round trip, then run the triggers of those that were new."""
        flags = await self.events.record_many(events, now_ms=now_ms)
        gate = asyncio.Semaphore(self.concurrency)

        async def after(event: CustomerEvent, recorded: bool) -> EventReceipt:
            async with gate:
                return await self._after(event, recorded, now_ms)

        return list(
            await asyncio.gather(*(after(e, f) for e, f in zip(events, flags, strict=True)))
        )

    async def _after(self, event: CustomerEvent, recorded: bool, now_ms: int) -> EventReceipt:
        receipt = EventReceipt(
            event.customer_id, event.type, event.id, "recorded" if recorded else "duplicate"
        )
        if not recorded:
            return receipt
        matching = await self.triggers.matching(
            self.decider.catalogue.version, event.type, event.name
        )
        for trigger in matching:
            receipt.outbound.append(await self._fire(trigger, event, now_ms))
        return receipt

    async def _fire(self, trigger: Trigger, event: CustomerEvent, now_ms: int) -> OutboundResult:
        held = OutboundResult(trigger.trigger_id, trigger.channel, queued=False)
        age_s = (now_ms - event.at_ms) // 1000
        if age_s > self.max_age_s:
            reason = f"stale: the event is {age_s} s old; triggers fire up to {self.max_age_s} s"
            return replace(held, reason=reason)
        context: dict[str, Any] = {"trigger": trigger.trigger_id}
        if event.name is not None:
            context["event_name"] = event.name
        request = DecisionRequest(
            event.customer_id,
            trigger.channel,
            interaction=f"event:{event.type}",
            context=context,
            limit=1,
            explain=True,
        )
        decision = await _decider_for(self.decider, trigger).decide(request)
        held = replace(held, decision_id=decision.decision_id)
        if decision.degraded:
            return replace(held, reason="degraded: the customer's record could not be read")
        if not decision.offers:
            return replace(held, reason=_why_nothing(decision))
        offer = decision.offers[0]
        # queued now, after the decision was made: its history line must not read as older
        queued_ms = max(now_ms, int(time.time() * 1000))
        at = datetime.fromtimestamp(queued_ms / 1000, UTC).isoformat()
        message = {
            "decision_id": decision.decision_id,
            "customer_id": event.customer_id,
            "offer_id": offer.offer_id,
            "name": offer.name,
            "at": at,
            "trigger_id": trigger.trigger_id,
            "event_type": event.type,
            "event_id": event.id or "",
            "event_name": event.name or "",
        }
        try:
            stream_id = await self.outbound.enqueue(
                trigger.channel, event.customer_id, message, now_ms=now_ms
            )
        except StoreError as exc:
            # the event is counted and the decision logged: say so rather than fail the event
            log.warning("outbound %s: could not queue decision %s", trigger.channel, exc)
            reason = f"unavailable: the {trigger.channel} queue could not be written ({exc})"
            return replace(held, reason=reason)
        history = {
            "type": "outbound",
            "at": at,
            "channel": trigger.channel,
            "decision_id": decision.decision_id,
            "offer_id": offer.offer_id,
            "trigger_id": trigger.trigger_id,
            "event_type": event.type,
            "event_id": event.id,
            "stream_id": stream_id,
        }
        try:
            await self.customers.append_history(event.customer_id, history)
        except StoreError:
            pass  # the message is queued and the decision logged; only the history line is lost
        return replace(held, queued=True, offer_id=offer.offer_id, stream_id=stream_id)


def _why_nothing(decision: DecisionResult) -> str:
    if decision.excluded:
        first = decision.excluded[0]
        return f"{first.stage}: {first.reason}"
    return f"no active offer for channel {decision.channel}"


class _OnlyOffers(Catalogue):
    """The live catalogue seen through a trigger's offer list.

    Same version and same ``offers`` as the catalogue it wraps (the model's encoded-offer cache
    is keyed by version and must see every offer); only ``for_channel`` is narrowed.
    """

    def __init__(self, base: Catalogue, allowed: frozenset[str]) -> None:
        self._base = base
        self._allowed = allowed

    @property
    def version(self) -> int:
        return self._base.version

    @property
    def offers(self) -> Sequence[Offer]:
        return self._base.offers

    def for_channel(self, channel: str) -> Sequence[Offer]:
        return tuple(o for o in self._base.for_channel(channel) if o.offer_id in self._allowed)


def _decider_for(decider: Decider, trigger: Trigger) -> Decider:
    """The funnel, restricted to the trigger's offers when it names some.

    Same parts (log, model, policy, contact policy, breaker): only the candidates differ. When
    ``DecisionRequest`` gains an ``offers`` filter, this becomes ``decider`` itself.
    """
    if trigger.offers is None:
        return decider
    restricted = Decider(
        customers=decider.customers,
        log=decider.log,
        catalogue=_OnlyOffers(decider.catalogue, trigger.offers),
        model=decider.model,
        policy=decider.policy,
        tiers=decider.tiers,
        contacts=decider.contacts,
    )
    restricted.breaker = decider.breaker
    return restricted


def date_events(
    customer_id: str,
    features: Mapping[str, Any],
    now: datetime,
    *,
    contract_days: int = 30,
    local_hours: tuple[int, int] = (9, 21),
) -> list[CustomerEvent]:
    """The date-driven events due today for one customer (pure; ids are deterministic).

    ``birthday`` (``MM-DD`` or ``YYYY-MM-DD``) today gives ``life_event``/``birthday`` with id
    ``birthday:<customer>:<year>`` (29 February is celebrated on the 28th in other years);
    a ``contract_end`` date within ``contract_days`` gives ``contract_end`` with id
    ``contract_end:<customer>:<date>`` (a renewed contract, with a new date, fires again).

    "Today" is the customer's local date (``utc_offset_h``, else UTC), and events are emitted
    only within ``local_hours``: an event counts once, so one emitted at night would have its
    trigger held back by quiet hours, never to be retried.

    >>> now = datetime(2026, 3, 14, 11, tzinfo=UTC)
    >>> [(e.type, e.id) for e in date_events("C1", {"birthday": "03-14"}, now)]
    [('life_event', 'birthday:C1:2026')]
    >>> [e.properties for e in date_events("C1", {"contract_end": "2026-04-01"}, now)]
    [{'contract_end': '2026-04-01', 'days_left': 18}]
    >>> date_events("C1", {"contract_end": "2026-06-01", "birthday": "1990-01-02"}, now)
    []
    >>> date_events("C1", {"birthday": "03-14", "utc_offset_h": 11}, now)  # 22 h there
    []
    """
    local = now.astimezone(UTC) + timedelta(hours=_offset_h(features))
    if not local_hours[0] <= local.hour < local_hours[1]:
        return []
    today = local.date()
    at_ms = int(now.timestamp() * 1000)
    out: list[CustomerEvent] = []
    birthday = _month_day(features.get("birthday"))
    if birthday is not None and _celebrated_on(birthday, today):
        out.append(
            CustomerEvent(
                customer_id,
                "life_event",
                at_ms,
                id=f"birthday:{customer_id}:{today.year}",
                name="birthday",
            )
        )
    ends = _date(features.get("contract_end"))
    if ends is not None and today <= ends <= today + timedelta(days=contract_days):
        out.append(
            CustomerEvent(
                customer_id,
                "contract_end",
                at_ms,
                id=f"contract_end:{customer_id}:{ends.isoformat()}",
                properties={"contract_end": ends.isoformat(), "days_left": (ends - today).days},
            )
        )
    return out


def _offset_h(features: Mapping[str, Any]) -> float:
    offset = features.get("utc_offset_h")
    if isinstance(offset, int | float) and not isinstance(offset, bool) and -14 <= offset <= 14:
        return float(offset)
    return 0.0


def _month_day(value: Any) -> tuple[int, int] | None:
    if not isinstance(value, str) or len(value) < 5:
        return None
    try:
        month, day = int(value[-5:-3]), int(value[-2:])
        date(2000, month, day)  # a leap year: 02-29 is a real birthday
    except ValueError:
        return None
    return month, day


def _celebrated_on(birthday: tuple[int, int], today: date) -> bool:
    month, day = birthday
    if (month, day) == (2, 29):
        leap = today.year % 4 == 0 and (today.year % 100 != 0 or today.year % 400 == 0)
        return (today.month, today.day) == ((2, 29) if leap else (2, 28))
    return (today.month, today.day) == (month, day)


def _date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).date()
    except ValueError:
        return None
