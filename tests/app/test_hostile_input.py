"""Hostile input: schemathesis over every operation of /openapi.json finds no 5xx and no answer
that breaks the schema; oversized and deeply nested bodies, huge feature maps, a full catalogue,
NaN and Infinity, odd unicode and injection strings all get a clear 4xx naming the field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.factories import make_customer, make_offer
from tests.services import Service, isolated_database, run_service

LIMITS = {"max_body_bytes": 64 * 1024, "max_features": 20, "max_offers": 3, "max_json_depth": 16}


@pytest.fixture(scope="module")
def limited(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service for the module (schemathesis makes hundreds of calls; a service each would
    cost more than the calls), with small limits so that crossing them is cheap."""
    folder = tmp_path_factory.mktemp("hostile")
    with (
        isolated_database(folder) as database_url,
        run_service(redis_url, database_url, folder / "data", seed=1, **LIMITS) as svc,
    ):
        svc.client.put("/v1/offers/fibre", json=make_offer(channels=["web"]))
        svc.client.put("/v1/customers/C1", json=make_customer())
        yield svc


def test_oversized_bodies_are_413_with_the_limit(limited: Service) -> None:
    big = json.dumps({"events": [{"customer_id": "C1", "type": "x" * 30}] * 3000}).encode()
    assert len(big) > LIMITS["max_body_bytes"]
    declared = limited.client.post(
        "/v1/events/bulk", content=big, headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413
    assert declared.json()["field"] == "body"
    assert "NBO_MAX_BODY_BYTES" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams in
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    streamed = limited.client.post(
        "/v1/events/bulk", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413 and streamed.json()["error"] == "payload_too_large"


@pytest.mark.parametrize("depth", [17, 5000, 200_000])
def test_deep_json_is_a_clear_422(limited: Service, depth: int) -> None:
    body = b'{"customer_id": "C1", "channel": "web", "context": {"x": ' + b"[" * depth
    body += b"]" * depth + b"}}"
    response = limited.client.post(
        "/v1/decisions", content=body, headers={"content-type": "application/json"}
    )
    if len(body) > LIMITS["max_body_bytes"]:
        assert response.status_code == 413
        return
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "body" and "nested deeper" in response.json()["detail"]


def test_huge_feature_map_is_refused_and_nothing_is_written(limited: Service) -> None:
    too_many = {f"f{i}": i for i in range(LIMITS["max_features"] + 1)}
    response = limited.client.put("/v1/customers/C2", json={"features": too_many})
    assert response.status_code == 422
    assert response.json()["field"] == "features"
    assert "NBO_MAX_FEATURES" in response.json()["detail"]
    assert limited.client.get("/v1/customers/C2").status_code == 404
    just_enough = dict(list(too_many.items())[: LIMITS["max_features"]])
    assert limited.client.put("/v1/customers/C2", json={"features": just_enough}).is_success


def test_catalogue_limit_refuses_new_offers_only(limited: Service) -> None:
    http = limited.client
    for offer_id in [o["offer_id"] for o in http.get("/v1/offers").json()]:
        if offer_id != "fibre":
            http.delete(f"/v1/offers/{offer_id}")
    assert http.put("/v1/offers/tv", json=make_offer()).status_code == 201
    assert http.put("/v1/offers/mobile", json=make_offer()).status_code == 201
    full = http.put("/v1/offers/one_more", json=make_offer())
    assert full.status_code == 409, full.text
    assert full.json()["field"] == "offer_id" and "NBO_MAX_OFFERS" in full.json()["detail"]
    assert http.get("/v1/offers/one_more").status_code == 404
    assert http.put("/v1/offers/tv", json=make_offer(value=5)).status_code == 200  # replace: ok
    http.delete("/v1/offers/tv")
    http.delete("/v1/offers/mobile")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"customer_id": "C1", "channel": "web", "context": {"x": NaN}}', "context.x"),
        (b'{"customer_id": "C1", "channel": "web", "context": {"x": -Infinity}}', "context.x"),
        (b'{"customer_id": "C1", "channel": "web", "limit": Infinity}', "limit"),
        (b'{"customer_id": "C1", "channel": "web", "context": {"x": 1e999}}', "context.x"),
    ],
)
def test_nan_and_infinity_name_the_field(limited: Service, raw: bytes, field: str) -> None:
    response = limited.client.post(
        "/v1/decisions", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"].startswith(field)


HOSTILE_IDS = [
    "C1' OR '1'='1",
    "C1; DROP TABLE offers; --",
    "../../etc/passwd",
    "{c:C1}",
    "C1*",
    "C1\u0000",
    "C\u202e1",  # right-to-left override
    "\u0421\u0031",  # a Cyrillic C
    "\U0001f600",
    "C1\r\nX-Injected: yes",
    "$(reboot)",
    "x" * 129,
]


@pytest.mark.parametrize("bad", HOSTILE_IDS)
def test_odd_and_injected_ids_are_refused_naming_the_field(limited: Service, bad: str) -> None:
    http = limited.client
    decided = http.post("/v1/decisions", json={"customer_id": bad, "channel": "web"})
    assert decided.status_code == 422 and decided.json()["field"] == "customer_id"
    event = http.post("/v1/events", json={"customer_id": "C1", "type": "x", "id": bad})
    assert event.status_code == 422 and event.json()["field"] == "id"
    put = http.put(f"/v1/customers/{quote(bad, safe='')}", json=make_customer())
    assert put.status_code in (404, 422), put.text  # a "/" in the id leaves the route: 404
    if put.status_code == 422:  # control characters are refused before routing: "path"
        assert put.json()["field"] in ("customer_id", "path")
    offer = http.put("/v1/offers/fibre", json=make_offer(channels=["web", bad]))
    assert offer.status_code == 422 and offer.json()["field"].startswith("channels[1]")
    assert http.get("/v1/offers/fibre").json()["channels"] == ["web"]  # no partial write


def test_control_characters_in_query_or_path_are_422(limited: Service) -> None:
    query = limited.client.get("/v1/offers", params={"channel": "web\x00"})
    assert query.status_code == 422 and query.json()["field"] == "channel"
    path = limited.client.get("/v1/customers/C%001")
    assert path.status_code == 422 and path.json()["field"] == "path"


def _operations_checked(service: Service, examples: int) -> list[str]:
    import hypothesis
    import schemathesis
    from schemathesis.checks import not_a_server_error, response_schema_conformance

    raw = httpx.get(f"{service.url}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(raw)
    headers = {"Authorization": f"Bearer {service.admin_key}"}
    failures: list[str] = []
    names: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        names.append(operation.label)

        @hypothesis.settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        @hypothesis.given(case=operation.as_strategy())
        def run(case: Any) -> None:
            response = case.call(base_url=service.url, headers=headers, timeout=10)
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - one report for every operation, below
            failures.append(f"{operation.label}: {exc}"[:3000])
    assert not failures, "\n\n".join(failures[:10])
    return names


def test_schemathesis_finds_no_5xx_and_no_schema_breach(limited: Service) -> None:
    checked = _operations_checked(limited, examples=10)
    assert len(checked) >= 30  # every /v1 operation, the session, keys and the probes
    assert "POST /v1/decisions" in checked and "DELETE /v1/keys/{key_id}" in checked


BIG = 2**70  # JSON has no integer limit; Redis, Lua and orjson stop at 64 bits


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/v1/customers/C1", {"features": {"n": BIG, "held": [BIG]}}),
        ("POST", "/v1/decisions", {"customer_id": "C1", "channel": "web", "context": {"n": BIG}}),
        (
            "POST",
            "/v1/events",
            # (properties.value is summed, so bounded: a huge one is a 422, tested with bulk)
            {"customer_id": "C1", "type": "purchase", "properties": {"m": BIG, "n": -BIG}},
        ),
        (
            "PUT",
            "/v1/offers/big",
            make_offer(
                channels=["web"],
                attributes={"n": BIG},
                eligibility=[{"feature": "n", "op": "lt", "value": BIG}],
            ),
        ),
    ],
)
def test_integers_beyond_64_bits_are_numbers_not_500s(
    limited: Service, method: str, path: str, body: dict[str, object]
) -> None:
    """A huge integer where any number may go is taken as a (float) number: it was a 500 (and
    the connection reset) from every write that serialised it, decisions included."""
    http = limited.client
    response = http.request(method, path, json=body)
    assert response.status_code < 300, response.text
    decided = http.post("/v1/decisions", json={"customer_id": "C1", "channel": "web"})
    assert decided.status_code == 200, decided.text
    http.delete("/v1/offers/big")


@pytest.mark.parametrize(
    "field", ["max_impressions", "impression_window_s", "cooldown_after_decline_s"]
)
def test_an_offer_policy_number_out_of_range_is_refused(limited: Service, field: str) -> None:
    """An offer saved with max_impressions 2**70 made every decision on its channels a 500;
    now it is refused, naming the field, and decisions go on."""
    http = limited.client
    response = http.put("/v1/offers/big", json=make_offer(channels=["web"], **{field: BIG}))
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert http.get("/v1/offers/big").status_code == 404
    assert http.post("/v1/decisions", json={"customer_id": "C1", "channel": "web"}).is_success


def test_an_offer_value_too_large_to_weigh_is_refused(limited: Service) -> None:
    """value x lever x channel lever must stay a finite priority: an offer worth 1e308 gave
    ``"priority": null`` (infinity) in decisions, outside the contract's number."""
    http = limited.client
    huge = make_offer(channels=["web"], value=1e308, lever=1000, channel_levers={"web": 1000})
    response = http.put("/v1/offers/big", json=huge)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "value"
    rich = make_offer(channels=["web"], value=1e15, lever=1000, channel_levers={"web": 1000})
    assert http.put("/v1/offers/big", json=rich).status_code == 201
    decided = http.post("/v1/decisions", json={"customer_id": "C1", "channel": "web", "limit": 2})
    assert decided.status_code == 200, decided.text
    assert all(isinstance(o["priority"], float) for o in decided.json()["offers"]), decided.text
    http.delete("/v1/offers/big")


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/decisions"), ("PUT", "/v1/offers/fibre"), ("POST", "/v1/events")],
)
@pytest.mark.parametrize("raw", [b"garbage", b"\xc3\x28"], ids=["not-json", "not-utf8"])
def test_the_key_is_checked_before_the_body(
    limited: Service, method: str, path: str, raw: bytes
) -> None:
    """FastAPI reads a JSON body before the route's role check: without that check first, a
    caller without a key would learn about the route's input, not that it needs a key."""
    url = f"{limited.url}{path}"
    headers = {"content-type": "application/json"}
    anonymous = httpx.request(method, url, content=raw, headers=headers)
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.headers["www-authenticate"] == "Bearer"
    wrong = httpx.request(method, url, content=raw, headers=headers | _bearer(limited, "analyst"))
    assert wrong.status_code == 403, wrong.text
    allowed = limited.client.request(method, path, content=raw, headers=headers)
    assert allowed.status_code == 422, allowed.text
    assert allowed.json()["field"] == "body"
    assert [p["field"] for p in allowed.json()["problems"]] == ["body"]
    assert "JSON" in allowed.json()["detail"]
    assert limited.client.get("/v1/offers/fibre").json()["name"] == make_offer()["name"]


def _bearer(service: Service, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {service.key_for(role)}"}


@pytest.mark.parametrize("value", [1e300, -1e16])
def test_an_outcome_value_beyond_any_amount_is_refused(limited: Service, value: float) -> None:
    """An outcome's value is summed into revenue figures: bounded as an offer's value is."""
    http = limited.client
    decision = http.post("/v1/decisions", json={"customer_id": "C1", "channel": "web"}).json()
    url = f"/v1/decisions/{decision['decision_id']}/outcomes"
    offer = decision["offers"][0]["offer_id"]
    refused = http.post(url, json={"offer_id": offer, "outcome": "accepted", "value": value})
    assert refused.status_code == 422 and refused.json()["field"] == "value", refused.text
    kept = http.post(url, json={"offer_id": offer, "outcome": "accepted", "value": 49.5})
    assert kept.status_code == 202 and kept.json()["status"] == "recorded", kept.text


def test_a_path_no_endpoint_serves_says_so(limited: Service) -> None:
    """An id with a slash (``a%2Fb``) matches no route: the 404 says which path, not just
    "Not Found"."""
    response = limited.client.get("/v1/customers/a%2Fb")
    assert response.status_code == 404, response.text
    assert response.json()["detail"].startswith("no endpoint at GET /v1/customers/a/b")
