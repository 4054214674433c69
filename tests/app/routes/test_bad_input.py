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


@pytest.mark.parametrize(
    ("method", "path", "body", "field", "problem"),
    [
        ("POST", "/v1/decisions", {"context": {"page": {"deep": 1}}}, "context.page", "string"),
        ("POST", "/v1/decisions", {"context": {"page": "x" * 1001}}, "context.page", "1000"),
        ("PUT", "/v1/customers/C1", {"features": {"plan": "x" * 1001}}, "features.plan", "1000"),
        ("PUT", "/v1/customers/C1", {"features": {"held": [1] * 101}}, "features.held", "100"),
        ("PUT", "/v1/customers/C1", {"features": {"held": [{"a": 1}]}}, "features.held", "list"),
        ("PUT", "/v1/customers/C1", {"features": {"bad key": 1}}, "features.bad key", "key"),
        ("POST", "/v1/events", {"properties": {"value": [1]}}, "properties.value", "number"),
        ("PUT", "/v1/offers/o1", {"attributes": {"tier": {"a": 1}}}, "attributes.tier", "string"),
        (
            "PUT",
            "/v1/offers/o1",
            {"eligibility": [{"feature": "age", "op": "eq", "value": {"a": 1}}]},
            "eligibility[0].value",
            "list",
        ),
    ],
)
def test_a_bad_value_is_named_by_its_own_path_with_its_real_problem(
    service: Service, method: str, path: str, body: dict[str, object], field: str, problem: str
) -> None:
    """A value that can be one of several types is blamed at its own path ("context.page", not
    "context.page.bool") with one problem that says what it may be, not "should be a valid
    boolean" for a string that is merely too long."""
    defaults: dict[str, dict[str, object]] = {
        "/v1/decisions": {"customer_id": "C1", "channel": "web"},
        "/v1/customers/C1": {"features": {}},
        "/v1/events": {"customer_id": "C1", "type": "purchase"},
        "/v1/offers/o1": make_offer(),
    }
    response = service.client.request(method, path, json={**defaults[path], **body})
    assert response.status_code == 422, response.text
    payload = response.json()
    assert payload["field"] == field, payload
    assert [p["field"] for p in payload["problems"]] == [field], payload
    assert problem in payload["detail"], payload
    assert service.client.get("/v1/customers/C1").status_code == 404
    assert service.client.get("/v1/offers/o1").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/v1/decisions", {"limit": True}, "limit"),
        ("POST", "/v1/decisions", {"limit": "2"}, "limit"),
        ("POST", "/v1/decisions", {"limit": 2.0}, "limit"),
        ("POST", "/v1/decisions", {"explain": "yes"}, "explain"),
        ("POST", "/v1/decisions", {"explain": 1}, "explain"),
        ("PUT", "/v1/offers/o1", {"value": "120"}, "value"),
        ("PUT", "/v1/offers/o1", {"value": True}, "value"),
        ("PUT", "/v1/offers/o1", {"lever": "2"}, "lever"),
        ("PUT", "/v1/offers/o1", {"max_impressions": "3"}, "max_impressions"),
        ("PUT", "/v1/offers/o1", {"outcome_window_s": 60.5}, "outcome_window_s"),
        ("PUT", "/v1/offers/o1", {"active": "false"}, "active"),
        ("PUT", "/v1/offers/o1", {"active": 0}, "active"),
        ("PUT", "/v1/offers/o1", {"not_for_holders": "no"}, "not_for_holders"),
        ("PUT", "/v1/offers/o1", {"channel_levers": {"web": "2"}}, "channel_levers.web"),
        ("PUT", "/v1/triggers/t1", {"active": "true"}, "active"),
    ],
)
def test_a_value_of_the_wrong_json_type_is_refused_not_coerced(
    service: Service, method: str, path: str, body: dict[str, object], field: str
) -> None:
    """``"limit": true`` or ``"active": "false"`` is a client's mistake: coercing it (true -> 1,
    "false" -> False, "120" -> 120.0) hides the bug and may do the opposite of what was meant."""
    defaults: dict[str, dict[str, object]] = {
        "/v1/decisions": {"customer_id": "C1", "channel": "web"},
        "/v1/offers/o1": make_offer(),
        "/v1/triggers/t1": {"event_type": "life_event", "channel": "email"},
    }
    response = service.client.request(method, path, json={**defaults[path], **body})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field, response.json()
    assert service.client.get("/v1/offers/o1").status_code == 404
    assert service.client.get("/v1/triggers/t1").status_code == 404


def test_integral_floats_and_ints_for_floats_are_fine(service: Service) -> None:
    offer = make_offer(value=120, lever=2, channel_levers={"web": 1})
    assert service.client.put("/v1/offers/o1", json=offer).status_code == 201
    assert service.client.get("/v1/offers/o1").json()["value"] == 120.0
