"""Decision policies through HTTP: caps under concurrency, cool-downs across channels, consent,
outbound limits, quiet hours, complaints by valuable and by below-cost customers, levers, dates."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.factories import make_offer
from tests.services import Service

SERVICE_MOMENTS = {"feature": "interaction", "op": "in", "value": ["complaint"]}


def _decide(service: Service, **body: Any) -> dict[str, Any]:
    payload = {"customer_id": "C1", "channel": "web", "interaction": "visit", "explain": True}
    payload.update(body)
    response = service.client.post("/v1/decisions", json=payload)
    assert response.status_code == 200, response.text
    decision: dict[str, Any] = response.json()
    return decision


def _stage_of(decision: dict[str, Any], offer_id: str) -> str | None:
    return next((e["stage"] for e in decision["excluded"] if e["offer_id"] == offer_id), None)


def test_fifty_concurrent_decisions_never_exceed_a_cap(greedy_service: Service) -> None:
    http = greedy_service.client
    http.put(
        "/v1/offers/capped",
        json=make_offer(channels=["web"], value=1000, max_impressions=3,
                        impression_window_s=3600),
    )  # fmt: skip
    http.put("/v1/offers/filler", json=make_offer(channels=["web"], value=1))
    http.put("/v1/customers/C1", json={"features": {"segment": "A"}})

    async def burst() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(
            base_url=greedy_service.url,
            headers={"Authorization": f"Bearer {greedy_service.admin_key}"},
            timeout=30,
        ) as client:
            responses = await asyncio.gather(
                *(
                    client.post("/v1/decisions", json={"customer_id": "C1", "channel": "web"})
                    for _ in range(50)
                )
            )
        assert all(r.status_code == 200 for r in responses)
        return [r.json() for r in responses]

    decisions = asyncio.run(burst())
    shown = [o["offer_id"] for d in decisions for o in d["offers"]]
    assert shown.count("capped") == 3
    assert shown.count("filler") == 47
    later = _decide(greedy_service)
    assert _stage_of(later, "capped") == "cap"


def test_a_decline_on_the_web_is_respected_on_the_phone(greedy_service: Service) -> None:
    http = greedy_service.client
    http.put(
        "/v1/offers/fibre",
        json=make_offer(channels=["web", "call_center"], value=100,
                        cooldown_after_decline_s=7 * 86400),
    )  # fmt: skip
    http.put("/v1/offers/tv", json=make_offer(channels=["web", "call_center"], value=1))
    first = _decide(greedy_service, channel="web")
    assert first["offers"][0]["offer_id"] == "fibre"
    http.post(
        f"/v1/decisions/{first['decision_id']}/outcomes",
        json={"offer_id": "fibre", "outcome": "declined"},
    )
    phone = _decide(greedy_service, channel="call_center", interaction="inbound_call")
    assert [o["offer_id"] for o in phone["offers"]] == ["tv"]
    assert _stage_of(phone, "fibre") == "cool-down"


def _service_catalogue(http: httpx.Client) -> None:
    actions = {
        "waive_fee": (300, [SERVICE_MOMENTS,
                            {"feature": "value_tier", "op": "eq", "value": "most_valuable"}]),
        "senior_agent": (220, [SERVICE_MOMENTS, {"feature": "value_tier", "op": "in",
                                                 "value": ["most_valuable", "growth_potential"]}]),
        "callback": (40, [SERVICE_MOMENTS]),
        "bill_explainer": (20, [SERVICE_MOMENTS]),
    }  # fmt: skip
    for offer_id, (value, rules) in actions.items():
        body = make_offer(kind="service", channels=["call_center"], value=value, eligibility=rules)
        assert http.put(f"/v1/offers/{offer_id}", json=body).is_success
    http.put("/v1/offers/tv_sports", json=make_offer(channels=["call_center"], value=500))


def test_a_valuable_customer_who_complains_gets_the_strongest_service_action(
    greedy_service: Service,
) -> None:
    http = greedy_service.client
    _service_catalogue(http)
    http.put(
        "/v1/customers/VIP",
        json={"features": {"clv": 9000, "tenure_months": 80, "products_held": ["mobile", "tv"]}},
    )
    firsts = []
    for _ in range(10):
        d = _decide(
            greedy_service, customer_id="VIP", channel="call_center", interaction="complaint",
            limit=2,
        )  # fmt: skip
        firsts.append(d["offers"][0]["offer_id"])
        assert {o["offer_id"] for o in d["offers"]} <= {"waive_fee", "senior_agent"}
        assert _stage_of(d, "tv_sports") == "suitability"
        assert any("most_valuable" in r for r in d["offers"][0]["reasons"])
    assert firsts.count("waive_fee") >= 8


def test_a_below_cost_customer_who_complains_gets_a_cheap_service_action(
    greedy_service: Service,
) -> None:
    http = greedy_service.client
    _service_catalogue(http)
    http.put("/v1/customers/LOW", json={"features": {"monthly_revenue": 4.0, "tenure_months": 2}})
    d = _decide(greedy_service, customer_id="LOW", channel="call_center", interaction="complaint")
    assert d["offers"][0]["offer_id"] in {"callback", "bill_explainer"}
    assert _stage_of(d, "waive_fee") == "eligibility"
    assert _stage_of(d, "senior_agent") == "eligibility"
    assert _stage_of(d, "tv_sports") == "suitability"
    # outside a complaint the sales offer is back and the service actions are not
    visit = _decide(greedy_service, customer_id="LOW", channel="call_center", interaction="visit")
    assert [o["offer_id"] for o in visit["offers"]] == ["tv_sports"]


def _noon_offset() -> int:
    """A UTC offset (hours) at which it is 12:xx local time now."""
    return ((12 - datetime.now(UTC).hour + 12) % 24) - 12


def test_outbound_needs_consent_and_respects_the_weekly_limit(greedy_service: Service) -> None:
    http = greedy_service.client
    http.put("/v1/offers/promo", json=make_offer(channels=["email", "sms"], value=10))
    noon = _noon_offset()
    http.put(
        "/v1/customers/C1",
        json={"features": {"utc_offset_h": noon}, "consent": {"email": True, "sms": False}},
    )
    http.put("/v1/customers/C2", json={"features": {"utc_offset_h": noon}})
    opted_out = _decide(greedy_service, channel="sms", interaction="outbound")
    assert opted_out["offers"] == [] and _stage_of(opted_out, "promo") == "consent"
    no_opt_in = _decide(greedy_service, customer_id="C2", channel="email", interaction="outbound")
    assert no_opt_in["offers"] == [] and _stage_of(no_opt_in, "promo") == "consent"

    first = _decide(greedy_service, channel="email", interaction="outbound")
    assert [o["offer_id"] for o in first["offers"]] == ["promo"]
    second = _decide(greedy_service, channel="email", interaction="outbound")
    assert second["offers"] == [] and _stage_of(second, "promo") == "outbound_limit"


def test_no_outbound_contact_in_quiet_hours(greedy_service: Service) -> None:
    http = greedy_service.client
    http.put("/v1/offers/promo", json=make_offer(channels=["email"], value=10))
    late_evening = ((23 - datetime.now(UTC).hour + 12) % 24) - 12
    http.put(
        "/v1/customers/C1",
        json={"features": {"utc_offset_h": late_evening}, "consent": {"email": True}},
    )
    d = _decide(greedy_service, channel="email", interaction="outbound")
    assert d["offers"] == [] and _stage_of(d, "promo") == "quiet_hours"


def test_channel_levers_and_dates(greedy_service: Service) -> None:
    http = greedy_service.client
    now = datetime.now(UTC)
    http.put("/v1/offers/a", json=make_offer(channels=["web", "app"], value=10))
    http.put(
        "/v1/offers/b",
        json=make_offer(channels=["web", "app"], value=10, channel_levers={"app": 50}),
    )
    http.put(
        "/v1/offers/expired",
        json=make_offer(channels=["web", "app"], value=1000,
                        end_at=(now - timedelta(days=1)).isoformat()),
    )  # fmt: skip
    http.put(
        "/v1/offers/future",
        json=make_offer(channels=["web", "app"], value=1000,
                        start_at=(now + timedelta(days=1)).isoformat()),
    )  # fmt: skip
    on_app = _decide(greedy_service, channel="app")
    assert on_app["offers"][0]["offer_id"] == "b"
    assert "L=50" in on_app["offers"][0]["reasons"]
    assert _stage_of(on_app, "expired") == "eligibility"
    assert _stage_of(on_app, "future") == "eligibility"
    assert _stage_of(on_app, "a") == "arbitration"
    bad = http.put(
        "/v1/offers/c",
        json=make_offer(start_at=now.isoformat(), end_at=(now - timedelta(days=1)).isoformat()),
    )
    assert bad.status_code == 422 and bad.json()["field"] == "end_at"


def test_not_for_customers_who_already_hold_it(greedy_service: Service) -> None:
    http = greedy_service.client
    body = make_offer(channels=["web"], attributes={"product": "fibre"}, not_for_holders=True)
    assert http.put("/v1/offers/fibre", json=body).status_code == 201
    http.put("/v1/offers/tv", json=make_offer(channels=["web"], value=1))
    http.put("/v1/customers/C1", json={"features": {"products_held": ["mobile", "fibre"]}})
    http.put("/v1/customers/C2", json={"features": {"products_held": ["mobile"]}})
    holder = _decide(greedy_service)
    assert _stage_of(holder, "fibre") == "eligibility"
    assert "already holds fibre" in next(e["reason"] for e in holder["excluded"])
    assert _decide(greedy_service, customer_id="C2")["offers"][0]["offer_id"] == "fibre"
    bad = http.put("/v1/offers/x", json=make_offer(attributes={}, not_for_holders=True))
    assert bad.status_code == 422 and bad.json()["field"] == "not_for_holders"


def test_marketers_change_the_contact_policy_without_a_redeploy(greedy_service: Service) -> None:
    http = greedy_service.client
    assert http.get("/v1/policies/contact").json()["outbound_limits"]["email"] == 1
    http.put("/v1/offers/promo", json=make_offer(channels=["email"], value=10))
    noon = _noon_offset()
    http.put(
        "/v1/customers/C1",
        json={"features": {"utc_offset_h": noon}, "consent": {"email": True}},
    )
    assert _decide(greedy_service, channel="email", interaction="outbound")["offers"]
    blocked = _decide(greedy_service, channel="email", interaction="outbound")
    assert _stage_of(blocked, "promo") == "outbound_limit"

    policy = http.put(
        "/v1/policies/contact",
        json={"outbound_limits": {"email": 3, "sms": 1}, "quiet_hours": None},
    )
    assert policy.status_code == 200 and policy.json()["outbound_limits"]["email"] == 3
    again = _decide(greedy_service, channel="email", interaction="outbound")
    assert [o["offer_id"] for o in again["offers"]] == ["promo"]

    bad = http.put("/v1/policies/contact", json={"quiet_hours": [21, 25]})
    assert bad.status_code == 422 and bad.json()["field"].startswith("quiet_hours")
    unknown = http.put("/v1/policies/contact", json={"outbound_limits": {"fax": 1}})
    assert unknown.status_code == 422 and unknown.json()["field"] == "outbound_limits"
    assert http.get("/v1/policies/contact").json()["outbound_limits"]["email"] == 3
