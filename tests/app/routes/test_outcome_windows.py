"""Delayed and missing rewards: outcome windows, defaults, late responses never learned twice."""

from __future__ import annotations

import time

from tests.factories import make_offer
from tests.services import Service


def _decide(service: Service) -> tuple[str, str]:
    decision = service.client.post(
        "/v1/decisions", json={"customer_id": "C1", "channel": "web"}
    ).json()
    return decision["decision_id"], decision["offers"][0]["offer_id"]


def _counts(service: Service, offer_id: str) -> dict[str, int]:
    metrics = service.client.get("/v1/metrics/learning").json()
    return next(o for o in metrics["offers"] if o["offer_id"] == offer_id)


def test_window_passes_default_is_learned_and_late_response_is_recorded_once(
    service: Service,
) -> None:
    http = service.client
    http.put("/v1/offers/o1", json=make_offer(channels=["web"], outcome_window_s=1))
    decision_id, offer_id = _decide(service)
    time.sleep(2.5)  # the learner's window sweep runs every second
    metrics = service.wait_learned(1)
    assert metrics["outcomes_learned"] == 1
    assert _counts(service, offer_id)["ignored"] == 1

    late = http.post(
        f"/v1/decisions/{decision_id}/outcomes", json={"offer_id": offer_id, "outcome": "accepted"}
    )
    assert late.status_code == 202 and late.json()["status"] == "late"
    again = http.post(
        f"/v1/decisions/{decision_id}/outcomes", json={"offer_id": offer_id, "outcome": "accepted"}
    )
    assert again.json()["status"] == "duplicate"
    time.sleep(service.settings.learner_checkpoint_s * 2)
    metrics = http.get("/v1/metrics/learning").json()
    assert metrics["outcomes_learned"] == 1
    assert _counts(service, offer_id)["accepted"] == 0
    history = http.get("/v1/customers/C1/history").json()["items"]
    assert history[0]["type"] == "outcome" and history[0]["late"] is True


def test_response_after_window_before_sweep_learns_the_default_only(service: Service) -> None:
    http = service.client
    http.put("/v1/offers/o1", json=make_offer(channels=["web"], outcome_window_s=1))
    decision_id, offer_id = _decide(service)
    time.sleep(1.1)
    response = http.post(
        f"/v1/decisions/{decision_id}/outcomes", json={"offer_id": offer_id, "outcome": "accepted"}
    )
    assert response.json()["status"] == "late"
    metrics = service.wait_learned(1)
    time.sleep(service.settings.learner_checkpoint_s * 2)
    metrics = http.get("/v1/metrics/learning").json()
    assert metrics["outcomes_learned"] == 1
    assert _counts(service, offer_id)["ignored"] == 1


def test_null_default_learns_nothing_when_the_window_passes(service: Service) -> None:
    http = service.client
    http.put(
        "/v1/offers/o1",
        json=make_offer(channels=["web"], outcome_window_s=1, default_outcome=None),
    )
    decision_id, offer_id = _decide(service)
    time.sleep(3.0)
    metrics = http.get("/v1/metrics/learning").json()
    assert metrics["outcomes_learned"] == 0
    assert _counts(service, offer_id)["ignored"] == 0
    late = http.post(
        f"/v1/decisions/{decision_id}/outcomes", json={"offer_id": offer_id, "outcome": "declined"}
    )
    assert late.json()["status"] == "late"
    time.sleep(service.settings.learner_checkpoint_s * 2)
    assert http.get("/v1/metrics/learning").json()["outcomes_learned"] == 0
