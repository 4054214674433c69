"""Request bodies with sensible defaults; override what a test is about."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def make_offer(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Fibre 1 Gbit",
        "kind": "offer",
        "channels": ["web", "call_center"],
        "value": 30.0,
        "attributes": {"category": "broadband", "price_tier": "mid"},
        "eligibility": [],
    }
    body.update(overrides)
    return body


def make_customer(**features: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"segment": "family", "tenure_months": 24, "monthly_revenue": 45.0}
    base.update(features)
    return {"features": base, "consent": {"email": True, "sms": False}}


def noon_utc_offset() -> int:
    """A UTC offset (hours) at which it is 12:xx local time now: outside the default quiet
    hours (21-8), so an outbound test passes at any time of day."""
    return ((12 - datetime.now(UTC).hour + 12) % 24) - 12
