"""Bad input gets a 4xx naming the field and the problem, and writes nothing."""

from __future__ import annotations

import pytest

from tests.factories import make_offer
from tests.services import Service


def test_malformed_json_is_a_clear_422(service: Service) -> None:
    response = service.client.post(
        "/v1/decisions",
        content=b'{"customer_id": "C1", "channel":',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"
    assert response.json()["field"] == "body"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channel": "web"}, "customer_id"),
        ({"customer_id": "C1"}, "channel"),
        ({"customer_id": 12, "channel": "web"}, "customer_id"),
        ({"customer_id": "C1", "channel": "web", "limit": 0}, "limit"),
        ({"customer_id": "C1", "channel": "web", "limit": "many"}, "limit"),
        ({"customer_id": "C1", "channel": "web", "context": {"x": {"deep": 1}}}, "context.x"),
        ({"customer_id": "C1", "channel": "web", "chanel": "app"}, "chanel"),
        ({"customer_id": "C 1; DROP TABLE", "channel": "web"}, "customer_id"),
    ],
)
def test_decision_input_errors_name_the_field(
    service: Service, body: dict[str, object], field: str
) -> None:
    response = service.client.post("/v1/decisions", json=body)
    assert response.status_code == 422, response.text
    payload = response.json()
    assert payload["field"].startswith(field), payload
    assert field in payload["detail"]


def test_nan_and_infinity_are_refused(service: Service) -> None:
    for raw in (b'{"features": {"x": NaN}}', b'{"features": {"x": Infinity}}'):
        response = service.client.put(
            "/v1/customers/C1", content=raw, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, response.text
    assert service.client.get("/v1/customers/C1").status_code == 404


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"kind": "gift"}, "kind"),
        ({"channels": []}, "channels"),
        ({"value": "a lot"}, "value"),
        ({"lever": -1}, "lever"),
        ({"default_outcome": "accepted"}, "default_outcome"),
        ({"attributes": {"nested": {"a": 1}}}, "attributes.nested"),
    ],
)
def test_offer_input_errors_name_the_field(
    service: Service, overrides: dict[str, object], field: str
) -> None:
    response = service.client.put("/v1/offers/o1", json=make_offer(**overrides))
    assert response.status_code == 422, response.text
    assert response.json()["field"].startswith(field)
    assert service.client.get("/v1/offers/o1").status_code == 404


def test_outcome_input_errors(service: Service) -> None:
    service.client.put("/v1/offers/o1", json=make_offer())
    decision = service.client.post(
        "/v1/decisions", json={"customer_id": "C1", "channel": "web"}
    ).json()
    url = f"/v1/decisions/{decision['decision_id']}/outcomes"
    bad = service.client.post(url, json={"offer_id": "o1", "outcome": "maybe"})
    assert bad.status_code == 422 and bad.json()["field"] == "outcome"
    missing = service.client.post(url, json={"outcome": "accepted"})
    assert missing.status_code == 422 and missing.json()["field"] == "offer_id"
    # nothing was recorded by the refused calls: the first valid outcome is new
    ok = service.client.post(url, json={"offer_id": "o1", "outcome": "accepted"})
    assert ok.json()["status"] == "recorded"


def test_unknown_offer_is_404(service: Service) -> None:
    response = service.client.get("/v1/offers/nope")
    assert response.status_code == 404
    assert response.json()["field"] == "offer_id"
