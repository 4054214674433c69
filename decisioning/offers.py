"""Offers and service actions as the funnel sees them, and validation of their rules.

Rules are checked when an offer is saved, so a typo in a marketer's rule is a clear error at the
moment it is made, never a surprise at decision time.

Examples
--------
>>> rule = Rule.parse({"feature": "tenure_months", "op": "gte", "value": 12}, index=0)
>>> rule.feature, rule.op
('tenure_months', 'gte')
>>> try:
...     Rule.parse({"feature": "age", "op": "bigger", "value": 3}, index=2)
... except InvalidInput as exc:
...     print(exc.field)
eligibility[2].op
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .eligibility import compile_rule
from .errors import InvalidInput

__all__ = ["OPS", "Offer", "Rule"]

OPS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists")
_FEATURE = re.compile(r"^[A-Za-z0-9_.\-]{1,140}$")
"""A customer feature (names: ``A-Z a-z 0-9 _ . -``), ``context.<key>``, ``channel`` or
``interaction``. (A saved rule is also checked by the API schema: ``context.`` needs a key.)"""


@dataclass(frozen=True, slots=True)
class Rule:
    feature: str
    op: str
    value: Any

    @classmethod
    def parse(cls, raw: Mapping[str, Any], *, index: int, stored: bool = False) -> Rule:
        """A rule from its JSON; ``stored``: saved before, so checks added since do not apply
        (a catalogue that loaded before an upgrade must load after it)."""
        where = f"eligibility[{index}]"
        feature, op, value = raw.get("feature"), raw.get("op"), raw.get("value")
        if not isinstance(feature, str) or not _FEATURE.match(feature):
            raise InvalidInput(
                f"{where}.feature",
                f"{feature!r} is not a feature path: use a customer feature name, "
                "context.<key>, channel or interaction",
            )
        if op not in OPS:
            raise InvalidInput(f"{where}.op", f"unknown op {op!r}; use one of {', '.join(OPS)}")
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                raise InvalidInput(f"{where}.value", f"op {op} needs a non-empty list")
            if not all(isinstance(v, str | int | float | bool) for v in value):
                raise InvalidInput(f"{where}.value", "list items must be strings or numbers")
        elif op in ("gt", "gte", "lt", "lte"):
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise InvalidInput(
                    f"{where}.value", f"op {op} needs a number (or an ISO date string)"
                )
            if isinstance(value, str) and not stored and not _is_iso_date(value):
                raise InvalidInput(
                    f"{where}.value",
                    f"op {op} compares numbers, or ISO 8601 dates as text: {value!r} is neither",
                )
        elif op in ("eq", "ne"):
            if not isinstance(value, str | int | float | bool):
                raise InvalidInput(f"{where}.value", f"op {op} needs a string, number or bool")
        elif op == "exists" and value is not None and not isinstance(value, bool):
            raise InvalidInput(f"{where}.value", "op exists takes true, false or nothing")
        return cls(feature=feature, op=op, value=value)


def _is_iso_date(text: str) -> bool:
    """An ISO 8601 date or time (``2026-05-17``, ``2026-05-17T09:00:00Z``): a comparison with
    any other string would be by alphabetical order, which no rule means."""
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Offer:
    """One catalogue entry: an offer (sales) or a service action."""

    offer_id: str
    name: str
    kind: str
    channels: tuple[str, ...]
    value: float
    lever: float = 1.0
    attributes: Mapping[str, Any] = field(default_factory=dict)
    eligibility: tuple[Rule, ...] = ()
    max_impressions: int | None = None
    impression_window_s: int | None = None
    cooldown_after_decline_s: int | None = None
    outcome_window_s: int | None = None
    default_outcome: str | None = "ignored"
    active: bool = True
    suitable_interactions: tuple[str, ...] = ()
    """Sensitive interactions (a complaint) during which this sales offer may still be shown."""
    channel_levers: Mapping[str, float] = field(default_factory=dict)
    """Business boost per channel, on top of ``lever``."""
    start_at: str | None = None
    end_at: str | None = None
    """ISO 8601 times between which the offer is live (either may be open)."""
    not_for_holders: bool = False
    """Not offered to customers whose ``products_held`` include the offer's ``product``."""
    checks: tuple[Callable[[Mapping[str, Any]], bool], ...] = field(
        default=(), compare=False, repr=False
    )
    """The eligibility rules compiled into predicates (built by ``from_body``)."""

    def held_by(self, context: Mapping[str, Any]) -> bool:
        """True when the offer is ``not_for_holders`` and the customer holds its product."""
        if not self.not_for_holders:
            return False
        product, held = self.attributes.get("product"), context.get("products_held")
        return product is not None and isinstance(held, list) and product in held

    def failing_rule(self, context: Mapping[str, Any]) -> Rule | None:
        """The first eligibility rule the context breaks, or None."""
        for rule, check in zip(self.eligibility, self.checks, strict=True):
            if not check(context):
                return rule
        return None

    def live(self, now_iso: str) -> bool:
        """Within its start and end dates (ISO 8601 strings in UTC compare as text)."""
        if self.start_at is not None and now_iso < self.start_at:
            return False
        return self.end_at is None or now_iso < self.end_at

    def lever_for(self, channel: str) -> float:
        return self.lever * self.channel_levers.get(channel, 1.0)

    @classmethod
    def from_body(cls, offer_id: str, body: Mapping[str, Any], *, stored: bool = False) -> Offer:
        """The offer a body describes; ``stored``: read back from the catalogue (see
        :meth:`Rule.parse`)."""
        rules = tuple(
            Rule.parse(rule, index=n, stored=stored)
            for n, rule in enumerate(body.get("eligibility") or [])
        )
        if body.get("not_for_holders") and "product" not in (body.get("attributes") or {}):
            raise InvalidInput(
                "not_for_holders", "needs attributes.product: the product a holder already has"
            )
        start_at = _utc_iso(body.get("start_at"), "start_at")
        end_at = _utc_iso(body.get("end_at"), "end_at")
        if start_at is not None and end_at is not None and end_at <= start_at:
            raise InvalidInput("end_at", f"ends ({end_at}) before it starts ({start_at})")
        return cls(
            offer_id=offer_id,
            name=str(body["name"]),
            kind=str(body.get("kind", "offer")),
            channels=tuple(body.get("channels") or ()),
            value=float(body.get("value", 0.0)),
            lever=float(1.0 if body.get("lever") is None else body["lever"]),
            attributes=dict(body.get("attributes") or {}),
            eligibility=rules,
            max_impressions=body.get("max_impressions"),
            impression_window_s=body.get("impression_window_s"),
            cooldown_after_decline_s=body.get("cooldown_after_decline_s"),
            outcome_window_s=body.get("outcome_window_s"),
            default_outcome=body.get("default_outcome", "ignored"),
            active=bool(body.get("active", True)),
            suitable_interactions=tuple(body.get("suitable_interactions") or ()),
            channel_levers=dict(body.get("channel_levers") or {}),
            start_at=start_at,
            end_at=end_at,
            not_for_holders=bool(body.get("not_for_holders", False)),
            checks=tuple(compile_rule(rule) for rule in rules),
        )

    def example(self) -> dict[str, Any]:
        """The offer's side of a learning example: id, kind and attributes under ``offer.``."""
        out: dict[str, Any] = {"offer.id": self.offer_id, "offer.kind": self.kind}
        for name, value in self.attributes.items():
            out[f"offer.{name}"] = value
        return out


def _utc_iso(value: Any, name: str) -> str | None:
    """Normalise a date or datetime to UTC ISO text so that live() can compare strings."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise InvalidInput(name, f"{value!r} is not an ISO 8601 date or time") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat()
