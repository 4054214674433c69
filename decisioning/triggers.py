"""Outbound triggers: the moment an event happens is the moment to reach out.

A trigger names an event type (and optionally its name: ``life_event`` / ``marriage``) and an
outbound channel; when a matching event arrives, the funnel decides for that channel, and what it
shows is queued for the channel's senders. Triggers live in SQL (marketers edit them through the
API); each worker keeps the active ones in memory, by event type, and reloads them when the
shared catalogue version moves (every trigger change bumps it), like the offer catalogue.

Examples
--------
>>> t = Trigger.from_body("wedding", {"event_type": "life_event", "event_name": "marriage",
...                                   "channel": "email"})
>>> t.matches("life_event", "marriage"), t.matches("life_event", "birth")
(True, False)
>>> any_complaint = Trigger.from_body("any", {"event_type": "complaint", "channel": "sms"})
>>> any_complaint.matches("complaint", None)
True
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from .errors import TriggerNotFound
from .tables import triggers as triggers_table

__all__ = ["SqlTriggers", "Trigger", "TriggerBook"]


@dataclass(frozen=True, slots=True)
class Trigger:
    trigger_id: str
    event_type: str
    channel: str
    event_name: str | None = None
    offers: frozenset[str] | None = None
    """Only these offers may be sent (None: any offer the funnel finds for the channel)."""
    active: bool = True

    def matches(self, event_type: str, event_name: str | None) -> bool:
        return (
            self.active
            and event_type == self.event_type
            and (self.event_name is None or event_name == self.event_name)
        )

    @classmethod
    def from_body(cls, trigger_id: str, body: Mapping[str, Any]) -> Trigger:
        offers = body.get("offers")
        return cls(
            trigger_id=trigger_id,
            event_type=str(body["event_type"]),
            channel=str(body["channel"]),
            event_name=body.get("event_name"),
            offers=frozenset(offers) if offers else None,
            active=bool(body.get("active", True)),
        )


class SqlTriggers:
    """CRUD on the ``triggers`` table (synchronous; called off the event loop)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def put(self, trigger_id: str, body: Mapping[str, Any]) -> bool:
        """Create or replace a trigger; returns True when it was created."""
        trigger = Trigger.from_body(trigger_id, body)
        t = triggers_table
        with self._engine.begin() as conn:
            exists = conn.execute(
                select(t.c.trigger_id).where(t.c.trigger_id == trigger_id)
            ).first()
            values = {"event_type": trigger.event_type, "body": dict(body)}
            if exists:
                conn.execute(update(t).where(t.c.trigger_id == trigger_id).values(**values))
            else:
                conn.execute(insert(t).values(trigger_id=trigger_id, **values))
        return exists is None

    def get(self, trigger_id: str) -> dict[str, Any]:
        t = triggers_table
        with self._engine.connect() as conn:
            row = conn.execute(select(t.c.body).where(t.c.trigger_id == trigger_id)).first()
        if row is None:
            raise TriggerNotFound(trigger_id)
        return dict(row[0])

    def delete(self, trigger_id: str) -> None:
        t = triggers_table
        with self._engine.begin() as conn:
            result = conn.execute(delete(t).where(t.c.trigger_id == trigger_id))
        if result.rowcount == 0:
            raise TriggerNotFound(trigger_id)

    def all(self) -> list[tuple[str, dict[str, Any]]]:
        t = triggers_table
        with self._engine.connect() as conn:
            rows = conn.execute(select(t.c.trigger_id, t.c.body).order_by(t.c.trigger_id)).all()
        return [(trigger_id, dict(body)) for trigger_id, body in rows]


class TriggerBook:
    """The active triggers by event type, as of the catalogue version they were loaded at."""

    def __init__(self, source: SqlTriggers) -> None:
        self.source = source
        self._by_type: dict[str, tuple[Trigger, ...]] = {}
        self._version: int | None = None
        self._lock = asyncio.Lock()

    def load(self, version: int) -> None:
        by_type: dict[str, list[Trigger]] = {}
        for trigger_id, body in self.source.all():
            trigger = Trigger.from_body(trigger_id, body)
            if trigger.active:
                by_type.setdefault(trigger.event_type, []).append(trigger)
        self._by_type = {kind: tuple(v) for kind, v in by_type.items()}
        self._version = version

    async def matching(
        self, version: int, event_type: str, event_name: str | None
    ) -> Sequence[Trigger]:
        """The active triggers for this event, reloading first if ``version`` moved."""
        if version != self._version:
            async with self._lock:
                if version != self._version:
                    await asyncio.to_thread(self.load, version)
        return [t for t in self._by_type.get(event_type, ()) if t.matches(event_type, event_name)]
