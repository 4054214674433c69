"""The catalogue API: create, read, replace, list, delete; rules validated when saved."""

from __future__ import annotations

import pytest

from tests.factories import make_offer
from tests.services import Service


def test_offer_lifecycle(service: Service) -> None:
    http = service.client
    created = http.put("/v1/offers/fibre_1g", json=make_offer())
    assert created.status_code == 201
    assert created.json()["offer_id"] == "fibre_1g"
    assert http.get("/v1/offers/fibre_1g").json()["value"] == 30.0

    replaced = http.put("/v1/offers/fibre_1g", json=make_offer(value=42.5, lever=1.5))
    assert replaced.status_code == 200
    assert http.get("/v1/offers/fibre_1g").json()["lever"] == 1.5
    assert [o["offer_id"] for o in http.get("/v1/offers").json()] == ["fibre_1g"]

    assert http.delete("/v1/offers/fibre_1g").status_code == 204
    assert http.get("/v1/offers/fibre_1g").status_code == 404
    assert http.delete("/v1/offers/fibre_1g").status_code == 404


def test_catalogue_changes_reach_decisions_without_restart(service: Service) -> None:
    http = service.client
    http.put("/v1/offers/a", json=make_offer(channels=["web"]))
    body = {"customer_id": "anon-1", "channel": "web", "interaction": "visit"}
    assert http.post("/v1/decisions", json=body).json()["offers"][0]["offer_id"] == "a"
    http.put("/v1/offers/a", json=make_offer(channels=["web"], active=False))
    http.put("/v1/offers/b", json=make_offer(channels=["web"]))
    assert http.post("/v1/decisions", json=body).json()["offers"][0]["offer_id"] == "b"


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"feature": "tenure_months", "op": "bigger", "value": 3}, "eligibility[0].op"),
        ({"feature": "tenure_months", "op": "gt", "value": [1, 2]}, "eligibility[0].value"),
        ({"feature": "signup", "op": "lt", "value": "abc"}, "eligibility[0].value"),
        ({"feature": "signup", "op": "gte", "value": ""}, "eligibility[0].value"),
        ({"feature": "products_held", "op": "in", "value": "fibre"}, "eligibility[0].value"),
        ({"feature": "bad feature!", "op": "eq", "value": 1}, "eligibility[0].feature"),
        ({"op": "eq", "value": 1}, "eligibility[0].feature"),
        ({"feature": "context.", "op": "eq", "value": 1}, "eligibility[0].feature"),
    ],
)
def test_invalid_rules_are_rejected_and_nothing_is_written(
    service: Service, rule: dict[str, object], field: str
) -> None:
    response = service.client.put("/v1/offers/x", json=make_offer(eligibility=[rule]))
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert service.client.get("/v1/offers/x").status_code == 404


def test_eligibility_rules_filter_and_explain(service: Service) -> None:
    http = service.client
    http.put(
        "/v1/offers/fibre",
        json=make_offer(
            channels=["web"],
            eligibility=[{"feature": "products_held", "op": "not_in", "value": ["fibre"]}],
        ),
    )
    http.put(
        "/v1/offers/senior_plan",
        json=make_offer(
            channels=["web"], eligibility=[{"feature": "age", "op": "gte", "value": 65}]
        ),
    )
    http.put("/v1/customers/C1", json={"features": {"products_held": ["fibre"], "age": 70}})
    decision = http.post(
        "/v1/decisions",
        json={"customer_id": "C1", "channel": "web", "interaction": "visit", "explain": True},
    ).json()
    assert [o["offer_id"] for o in decision["offers"]] == ["senior_plan"]
    assert decision["excluded"] == [
        {
            "offer_id": "fibre",
            "stage": "eligibility",
            "reason": "requires products_held not_in ['fibre'], has ['fibre']",
        }
    ]


def test_a_rule_can_name_any_feature_a_customer_can_have(service: Service) -> None:
    """Feature names and context keys may start with a digit (``5g_capable``): a rule on one
    was refused as "not a feature path"."""
    http = service.client
    rules = [
        {"feature": "5g_capable", "op": "eq", "value": True},
        {"feature": "context.1st_visit", "op": "eq", "value": True},
    ]
    response = http.put("/v1/offers/fast", json=make_offer(channels=["web"], eligibility=rules))
    assert response.status_code == 201, response.text
    assert http.put("/v1/customers/C1", json={"features": {"5g_capable": True}}).is_success
    body = {"customer_id": "C1", "channel": "web", "explain": True}
    shown = http.post("/v1/decisions", json=body | {"context": {"1st_visit": True}}).json()
    assert [o["offer_id"] for o in shown["offers"]] == ["fast"], shown
    hidden = http.post("/v1/decisions", json=body | {"context": {"1st_visit": False}}).json()
    assert hidden["offers"] == [] and hidden["excluded"][0]["stage"] == "eligibility", hidden


def test_a_date_rule_compares_iso_dates(service: Service) -> None:
    """A comparison with a string takes an ISO 8601 date (any other string is refused above)."""
    http = service.client
    rule = {"feature": "contract_end", "op": "lte", "value": "2026-06-30"}
    response = http.put("/v1/offers/renew", json=make_offer(channels=["web"], eligibility=[rule]))
    assert response.status_code == 201, response.text
    body = {"customer_id": "C1", "channel": "web", "interaction": "visit"}
    for end, shown in (("2026-05-01", True), ("2026-09-01", False)):
        assert http.put("/v1/customers/C1", json={"features": {"contract_end": end}}).is_success
        offers = [o["offer_id"] for o in http.post("/v1/decisions", json=body).json()["offers"]]
        assert ("renew" in offers) is shown, (end, offers)


def test_an_offer_without_a_value_is_refused(service: Service) -> None:
    """``value`` is required by the contract: an offer that defaulted to 0 would never win."""
    body = make_offer()
    del body["value"]
    response = service.client.put("/v1/offers/novalue", json=body)
    assert response.status_code == 422 and response.json()["field"] == "value", response.text
    assert service.client.get("/v1/offers/novalue").status_code == 404
