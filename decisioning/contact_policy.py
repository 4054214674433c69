"""Contact policy and suitability: when an eligible offer may still not be shown.

Stages, in the order the funnel applies them (each drop is explained with its stage):

- ``consent``: a channel the customer opted out of gets nothing; an outbound channel (email, sms,
  push) needs an explicit opt-in.
- ``quiet_hours``: no outbound contact during the quiet hours (customer's local time when a
  ``utc_offset_h`` feature says it, else UTC).
- ``suitability``: during a sensitive interaction (a complaint), sales offers are out unless they
  name that interaction in ``suitable_interactions``; service actions are always suitable.
- ``cool-down``: an offer declined within its ``cooldown_after_decline_s`` is not shown again, on
  any channel (declined on the web, not pushed on the phone the same week).
- ``cap``: at most ``max_impressions`` of an offer per ``impression_window_s``.
- ``outbound_limit``: at most N outbound contacts per channel per week (default one email, one
  SMS).

The checks here read the contact record as the decision read it; the reservation made when the
decision is logged re-checks caps and outbound limits atomically, so concurrent decisions cannot
overshoot them.

>>> policy = ContactPolicy()
>>> offer = Offer("o1", "O", "offer", ("web",), 10.0, max_impressions=1, impression_window_s=60)
>>> state = ContactState.parse({"imp:o1": "[1000]"}, {})
>>> policy.offer_block(offer, state, interaction="visit", now_ms=30_000)
('cap', 'shown 1 time(s) in the last 60 s; the cap is 1')
>>> policy.offer_block(offer, state, interaction="visit", now_ms=90_000) is None
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from .eligibility import Screen
from .errors import InvalidInput
from .offers import Offer

__all__ = ["ContactPolicy", "ContactState"]

WEEK_S = 7 * 86400


@dataclass(frozen=True, slots=True)
class ContactState:
    """A customer's contact record, as read with the decision."""

    impressions: dict[str, list[int]] = field(default_factory=dict)
    outbound: dict[str, list[int]] = field(default_factory=dict)
    declined: dict[str, int] = field(default_factory=dict)
    consent: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def parse(cls, contacts: Mapping[str, str], consent: Mapping[str, bool]) -> ContactState:
        impressions: dict[str, list[int]] = {}
        outbound: dict[str, list[int]] = {}
        declined: dict[str, int] = {}
        for name, raw in contacts.items():
            kind, _, key = name.partition(":")
            try:
                if kind == "imp":
                    impressions[key] = [int(t) for t in orjson.loads(raw) or []]
                elif kind == "out":
                    outbound[key] = [int(t) for t in orjson.loads(raw) or []]
                elif kind == "declined":
                    declined[key] = int(raw)
            except (orjson.JSONDecodeError, TypeError, ValueError):
                continue  # a damaged counter must not break decisions
        return cls(impressions, outbound, declined, dict(consent))


@dataclass(frozen=True, slots=True)
class ContactPolicy:
    outbound_channels: frozenset[str] = frozenset({"email", "sms", "push"})
    outbound_limits: Mapping[str, int] = field(
        default_factory=lambda: {"email": 1, "sms": 1, "push": 2}
    )
    outbound_window_s: int = WEEK_S
    quiet_hours: tuple[int, int] | None = (21, 8)
    """Local hours [start, end) with no outbound contact; None: no quiet hours."""
    sensitive_interactions: frozenset[str] = frozenset({"complaint", "event:complaint"})

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ContactPolicy:
        """Build from the JSON marketers PUT (already shape-checked by the API schema)."""
        quiet = body.get("quiet_hours")
        if quiet is not None:
            if len(quiet) != 2 or not all(0 <= int(h) <= 23 for h in quiet) or quiet[0] == quiet[1]:
                raise InvalidInput("quiet_hours", "give [start, end] hours 0-23, start != end")
        limits = dict(body.get("outbound_limits", {"email": 1, "sms": 1, "push": 2}))
        channels = frozenset(body.get("outbound_channels", ("email", "sms", "push")))
        unknown = sorted(set(limits) - channels)
        if unknown:
            raise InvalidInput("outbound_limits", f"{unknown} are not outbound_channels")
        return cls(
            outbound_channels=channels,
            outbound_limits=limits,
            outbound_window_s=int(body.get("outbound_window_s", WEEK_S)),
            quiet_hours=(int(quiet[0]), int(quiet[1])) if quiet is not None else None,
            sensitive_interactions=frozenset(
                body.get("sensitive_interactions", ("complaint", "event:complaint"))
            ),
        )

    def to_body(self) -> dict[str, Any]:
        return {
            "outbound_channels": sorted(self.outbound_channels),
            "outbound_limits": dict(self.outbound_limits),
            "outbound_window_s": self.outbound_window_s,
            "quiet_hours": list(self.quiet_hours) if self.quiet_hours else None,
            "sensitive_interactions": sorted(self.sensitive_interactions),
        }

    def channel_block(
        self,
        channel: str,
        state: ContactState,
        features: Mapping[str, Any],
        now: datetime,
    ) -> tuple[str, str] | None:
        """Why nothing at all may be shown on this channel now, if so."""
        opted = state.consent.get(channel)
        if opted is False:
            return "consent", f"the customer opted out of {channel}"
        if channel in self.outbound_channels:
            if opted is not True:
                return "consent", f"no opt-in for outbound {channel}"
            if self.quiet_hours is not None:
                hour = _local_hour(now, features)
                start, end = self.quiet_hours
                quiet = start <= hour < end if start < end else (hour >= start or hour < end)
                if quiet:
                    return "quiet_hours", f"{hour:02d}h local is within quiet hours {start}-{end}h"
            limit = self.outbound_limits.get(channel)
            if limit is not None:
                since = _ms(now) - self.outbound_window_s * 1000
                sent = sum(1 for t in state.outbound.get(channel, []) if t > since)
                if sent >= limit:
                    return (
                        "outbound_limit",
                        f"{sent} {channel} contact(s) in the last {self.outbound_window_s // 86400}"
                        f" days; the limit is {limit}",
                    )
        return None

    def offer_block(
        self, offer: Offer, state: ContactState, *, interaction: str, now_ms: int
    ) -> tuple[str, str] | None:
        """Why this eligible offer may not be shown now, if so."""
        if (
            interaction in self.sensitive_interactions
            and offer.kind != "service"
            and interaction not in offer.suitable_interactions
        ):
            return "suitability", f"sales offers are not suitable during a {interaction}"
        declined_at = state.declined.get(offer.offer_id)
        if offer.cooldown_after_decline_s and declined_at is not None:
            left_ms = declined_at + offer.cooldown_after_decline_s * 1000 - now_ms
            if left_ms > 0:
                return "cool-down", f"declined {(now_ms - declined_at) // 1000} s ago; " + (
                    f"cool-down {offer.cooldown_after_decline_s} s"
                )
        if offer.max_impressions:
            window_ms = (offer.impression_window_s or 10 * 365 * 86400) * 1000
            shown = sum(
                1 for t in state.impressions.get(offer.offer_id, []) if t > now_ms - window_ms
            )
            if shown >= offer.max_impressions:
                return (
                    "cap",
                    f"shown {shown} time(s) in the last {window_ms // 1000} s; "
                    f"the cap is {offer.max_impressions}",
                )
        return None

    def blocked(
        self, screen: Screen, state: ContactState, *, interaction: str, now_ms: int
    ) -> list[int]:
        """Positions in ``screen`` of the offers that :meth:`offer_block` would not show.

        Only the offers the contact record names (declined, shown) can be blocked, unless the
        interaction is sensitive: a customer has a handful of such entries, the catalogue a
        hundred offers, so this asks :meth:`offer_block` about those few instead of all.
        """
        if interaction in self.sensitive_interactions:
            concerned: Iterable[int] = range(len(screen))
        else:
            index = screen.index
            concerned = {index[o] for o in state.declined if o in index} | {
                index[o] for o in state.impressions if o in index
            }
        offers = screen.offers
        return [
            n
            for n in sorted(concerned)
            if self.offer_block(offers[n], state, interaction=interaction, now_ms=now_ms)
            is not None
        ]

    def outbound_reservation(self, channel: str) -> tuple[str, int, int] | None:
        limit = self.outbound_limits.get(channel)
        if channel not in self.outbound_channels or limit is None:
            return None
        return channel, limit, self.outbound_window_s * 1000


def _ms(now: datetime) -> int:
    return int(now.timestamp() * 1000)


def _local_hour(now: datetime, features: Mapping[str, Any]) -> int:
    offset = features.get("utc_offset_h")
    if isinstance(offset, int | float) and not isinstance(offset, bool) and -14 <= offset <= 14:
        return (now.astimezone(UTC) + timedelta(hours=float(offset))).hour
    return now.astimezone(UTC).hour
