"""Decisions and outcomes: the contract's shapes, unknown customers, exactly-once outcomes."""

from __future__ import annotations

from app.schemas import DecisionView, ExclusionView, OfferChoice
from tests.factories import make_customer, make_offer
from tests.services import Service


def _decide(service: Service, customer_id: str = "C1", **extra: object) -> dict[str, object]:
    body = {"customer_id": customer_id, "channel": "web", "interaction": "visit", **extra}
    response = service.client.post("/v1/decisions", json=body)
    assert response.status_code == 200, response.text
    decision: dict[str, object] = response.json()
    return decision


def test_decision_has_the_contract_shape(service: Service) -> None:
    service.client.put("/v1/offers/fibre", json=make_offer())
    service.client.put("/v1/offers/tv", json=make_offer(name="TV", value=12))
    service.client.put("/v1/customers/C1", json=make_customer())
    decision = _decide(service, limit=2)
    assert set(decision) >= {
        "decision_id",
        "customer_id",
        "channel",
        "offers",
        "control_group",
        "model_version",
    }
    assert decision["known_customer"] is True
    offers = decision["offers"]
    assert isinstance(offers, list) and {o["offer_id"] for o in offers} == {"fibre", "tv"}
    for offer in offers:
        assert set(offer) >= {
            "offer_id",
            "kind",
            "propensity",
            "value",
            "priority",
            "probability",
            "explored",
            "reasons",
        }
        assert 0 < offer["propensity"] < 1
        assert 0 < offer["probability"] <= 1
        assert any(r.startswith("P=") for r in offer["reasons"])


def test_decision_answer_has_exactly_the_schema_fields(service: Service) -> None:
    """The router serialises the funnel's result as it is: no field more, none less."""
    never = [{"feature": "tenure_months", "op": "gte", "value": 10_000}]
    service.client.put("/v1/offers/fibre", json=make_offer())
    service.client.put("/v1/offers/tv", json=make_offer(name="TV", value=12))
    service.client.put("/v1/offers/never", json=make_offer(name="Never", eligibility=never))
    service.client.put("/v1/customers/C1", json=make_customer())
    for explain in (False, True):
        decision = _decide(service, explain=explain)
        assert set(decision) == set(DecisionView.model_fields)
        DecisionView.model_validate(decision)
        offers = decision["offers"]
        assert isinstance(offers, list) and len(offers) == 1
        assert set(offers[0]) == set(OfferChoice.model_fields)
        excluded = decision["excluded"]
        if explain:
            assert isinstance(excluded, list) and {e["stage"] for e in excluded} == {
                "eligibility",
                "arbitration",
            }
            assert all(set(e) == set(ExclusionView.model_fields) for e in excluded)
        else:
            assert excluded is None


def test_unknown_customer_is_decided_from_context(service: Service) -> None:
    service.client.put("/v1/offers/fibre", json=make_offer())
    decision = _decide(service, "visitor-123", context={"page": "broadband"})
    assert decision["known_customer"] is False
    assert decision["offers"][0]["offer_id"] == "fibre"  # type: ignore[index]
    assert any("unknown customer" in r for r in decision["offers"][0]["reasons"])  # type: ignore[index]


def test_no_eligible_offer_is_an_empty_answer(service: Service) -> None:
    decision = _decide(service)
    assert decision["offers"] == []


def test_outcomes_count_once_and_conflicts_are_refused(service: Service) -> None:
    http = service.client
    http.put("/v1/offers/fibre", json=make_offer())
    http.put("/v1/offers/tv", json=make_offer(name="TV"))
    decision = _decide(service)
    shown = decision["offers"][0]["offer_id"]  # type: ignore[index]
    url = f"/v1/decisions/{decision['decision_id']}/outcomes"

    first = http.post(url, json={"offer_id": shown, "outcome": "accepted"})
    assert first.status_code == 202 and first.json()["status"] == "recorded"
    again = http.post(url, json={"offer_id": shown, "outcome": "accepted"})
    assert again.status_code == 202 and again.json()["status"] == "duplicate"
    conflict = http.post(url, json={"offer_id": shown, "outcome": "declined"})
    assert conflict.status_code == 409 and conflict.json()["field"] == "outcome"

    other = "tv" if shown == "fibre" else "fibre"
    not_shown = http.post(url, json={"offer_id": other, "outcome": "accepted"})
    assert not_shown.status_code == 422 and not_shown.json()["field"] == "offer_id"

    unknown = http.post(
        "/v1/decisions/0123456789abcdef/outcomes", json={"offer_id": shown, "outcome": "accepted"}
    )
    assert unknown.status_code == 404 and unknown.json()["field"] == "decision_id"

    metrics = service.wait_learned(1)
    counts = {o["offer_id"]: o for o in metrics["offers"]}
    assert counts[shown]["accepted"] == 1
    assert counts[shown]["impressions"] == 1
    assert metrics["outcomes_learned"] == 1


def test_history_lists_decisions_and_outcomes_newest_first(service: Service) -> None:
    http = service.client
    http.put("/v1/offers/fibre", json=make_offer())
    http.put("/v1/customers/C1", json=make_customer())
    decision = _decide(service)
    http.post(
        f"/v1/decisions/{decision['decision_id']}/outcomes",
        json={"offer_id": "fibre", "outcome": "declined"},
    )
    items = http.get("/v1/customers/C1/history").json()["items"]
    assert [i["type"] for i in items] == ["outcome", "decision"]
    assert items[0]["outcome"] == "declined"


def test_customer_roundtrip_and_erase(service: Service) -> None:
    http = service.client
    body = make_customer(products_held=["mobile", "tv"], is_student=False)
    assert http.put("/v1/customers/C9", json=body).status_code == 200
    got = http.get("/v1/customers/C9").json()
    assert got["features"]["products_held"] == ["mobile", "tv"]
    assert got["consent"] == {"email": True, "sms": False}
    # features replaced without a word about consent: the consent given stays, and says so
    replaced = http.put("/v1/customers/C9", json={"features": {"segment": "family"}})
    assert replaced.json()["consent"] == {"email": True, "sms": False}
    got = http.get("/v1/customers/C9").json()
    assert got["consent"] == {"email": True, "sms": False}
    assert "products_held" not in got["features"]
    assert http.delete("/v1/customers/C9").status_code == 204
    assert http.get("/v1/customers/C9").status_code == 404


def test_erasing_a_customer_forgets_their_logged_decisions(service: Service) -> None:
    """After DELETE nothing of the customer is left: an outcome for a decision made before the
    erasure is for an unknown decision (404), and it writes no history and teaches nothing."""
    http = service.client
    http.put("/v1/offers/fibre", json=make_offer())
    http.put("/v1/customers/C9", json=make_customer())
    before = _decide(service, "C9")
    assert before["offers"], before
    decision_id = before["decision_id"]
    learned = http.get("/v1/metrics/learning").json()["outcomes_learned"]
    assert http.delete("/v1/customers/C9").status_code == 204
    response = http.post(
        f"/v1/decisions/{decision_id}/outcomes", json={"offer_id": "fibre", "outcome": "accepted"}
    )
    assert response.status_code == 404, response.text
    assert response.json()["field"] == "decision_id"
    assert http.get("/v1/customers/C9/history").json()["items"] == []
    assert http.get("/v1/customers/C9").status_code == 404
    assert http.get("/v1/metrics/learning").json()["outcomes_learned"] == learned


def test_a_profile_put_with_no_features_exists(service: Service) -> None:
    """PUT answered 200 with the profile, so GET finds it (it was 404 when the profile had no
    features and no consent), a decision knows the customer, and DELETE erases it."""
    http = service.client
    assert http.put("/v1/customers/C0", json={"features": {}}).status_code == 200
    got = http.get("/v1/customers/C0")
    assert got.status_code == 200, got.text
    customer = got.json()
    assert customer["consent"] == {}
    assert customer["features"] == customer["aggregates"]  # no profile field, only aggregates
    assert _decide(service, "C0")["known_customer"] is True
    assert http.delete("/v1/customers/C0").status_code == 204
    assert http.get("/v1/customers/C0").status_code == 404
    assert _decide(service, "C0")["known_customer"] is False
