"""Request bodies with sensible defaults; override what a test is about."""

from __future__ import annotations

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
