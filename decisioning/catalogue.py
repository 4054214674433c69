"""The offer catalogue: SQL is the source of truth, an in-memory copy serves the hot path.

Every change bumps a counter in Redis; each worker compares it with the version it holds (a cheap
GET, at most every ``refresh_s``) and reloads from SQL when it moved, so marketers' edits reach
every worker and every replica within about a second, without a redeploy.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, delete, func, insert, select, update

from .contact_policy import ContactPolicy
from .errors import CatalogueFull, OfferInUse, OfferNotFound
from .offers import Offer
from .tables import offers as offers_table
from .tables import triggers as triggers_table

if TYPE_CHECKING:
    from .policies import SqlPolicies

__all__ = ["Catalogue", "SqlCatalogue"]


class SqlCatalogue:
    """CRUD on the ``offers`` table (synchronous; called off the event loop)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def put(self, offer_id: str, body: Mapping[str, Any], *, max_offers: int | None = None) -> bool:
        """Create or replace an offer; returns True when it was created.

        A new offer beyond ``max_offers`` raises :class:`CatalogueFull` (two concurrent creates
        may both pass the count: the limit protects memory and decision cost, not a quota).
        """
        Offer.from_body(offer_id, body)  # validates rules before anything is written
        with self._engine.begin() as conn:
            exists = conn.execute(
                select(offers_table.c.offer_id).where(offers_table.c.offer_id == offer_id)
            ).first()
            if exists is None and max_offers is not None:
                count = conn.execute(select(func.count()).select_from(offers_table)).scalar_one()
                if count >= max_offers:
                    raise CatalogueFull(offer_id, max_offers)
            if exists:
                conn.execute(
                    update(offers_table)
                    .where(offers_table.c.offer_id == offer_id)
                    .values(body=dict(body))
                )
            else:
                conn.execute(insert(offers_table).values(offer_id=offer_id, body=dict(body)))
        return exists is None

    def get(self, offer_id: str) -> dict[str, Any]:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(offers_table.c.body).where(offers_table.c.offer_id == offer_id)
            ).first()
        if row is None:
            raise OfferNotFound(offer_id)
        return dict(row[0])

    def delete(self, offer_id: str) -> None:
        """Delete an offer no trigger names (:class:`OfferInUse` otherwise, nothing deleted)."""
        with self._engine.begin() as conn:
            naming = [
                trigger_id
                for trigger_id, body in conn.execute(
                    select(triggers_table.c.trigger_id, triggers_table.c.body)
                ).all()
                if offer_id in (dict(body).get("offers") or ())
            ]
            if naming:
                raise OfferInUse(offer_id, sorted(naming))
            result = conn.execute(delete(offers_table).where(offers_table.c.offer_id == offer_id))
        if result.rowcount == 0:
            raise OfferNotFound(offer_id)

    def all(self) -> list[tuple[str, dict[str, Any]]]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(offers_table.c.offer_id, offers_table.c.body).order_by(
                    offers_table.c.offer_id
                )
            ).all()
        return [(offer_id, dict(body)) for offer_id, body in rows]


class Catalogue:
    """The active offers, by channel, as of the last reload; cheap to read on every decision."""

    def __init__(
        self,
        source: SqlCatalogue,
        *,
        refresh_s: float = 1.0,
        policies: SqlPolicies | None = None,
    ) -> None:
        self.source = source
        self.policies = policies
        self.contact_policy = ContactPolicy()
        """The channel-wide contact policy, reloaded with the catalogue."""
        self.refresh_s = refresh_s
        self._offers: tuple[Offer, ...] = ()
        self._by_channel: dict[str, tuple[Offer, ...]] = {}
        self._version = -1
        self._checked_at = 0.0
        self._lock = asyncio.Lock()

    @property
    def version(self) -> int:
        return self._version

    @property
    def offers(self) -> Sequence[Offer]:
        return self._offers

    def for_channel(self, channel: str) -> Sequence[Offer]:
        return self._by_channel.get(channel, ())

    def load(self, version: int) -> None:
        self._install(version, *self._read())

    def _read(self) -> tuple[tuple[Offer, ...], dict[str, tuple[Offer, ...]], ContactPolicy]:
        """The offers, by channel, and the contact policy, from SQL (in a thread, when async)."""
        offers = tuple(
            Offer.from_body(offer_id, body, stored=True) for offer_id, body in self.source.all()
        )
        active = tuple(o for o in offers if o.active)
        by_channel: dict[str, list[Offer]] = {}
        for offer in active:
            for channel in offer.channels:
                by_channel.setdefault(channel, []).append(offer)
        contact = self.policies.contact() if self.policies is not None else self.contact_policy
        return active, {ch: tuple(v) for ch, v in by_channel.items()}, contact

    def _install(
        self,
        version: int,
        offers: tuple[Offer, ...],
        by_channel: dict[str, tuple[Offer, ...]],
        contact: ContactPolicy,
    ) -> None:
        self.contact_policy = contact
        self._offers = offers
        self._by_channel = by_channel
        self._version = version

    async def refresh(self, current_version: int, *, force: bool = False) -> bool:
        """Reload if the shared version moved; returns True when it did.

        SQL is read in a thread, but the new catalogue is installed on the event loop: a
        decision reads a channel's offers and the encoded catalogue one after the other, and a
        catalogue swapped between the two (from a thread) gave it offers the other did not have.
        """
        self._checked_at = time.monotonic()
        if current_version == self._version and not force:
            return False
        async with self._lock:
            if current_version != self._version or force:
                self._install(current_version, *(await asyncio.to_thread(self._read)))
                return True
        return False

    def due(self) -> bool:
        return time.monotonic() - self._checked_at >= self.refresh_s
