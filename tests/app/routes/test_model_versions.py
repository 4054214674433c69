"""Model versions: published by the learner, recorded in SQL, rolled back by pinning."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from tests.factories import make_offer
from tests.services import Service


def _learn_some(service: Service, n: int) -> None:
    http = service.client
    for _ in range(n):
        decision = http.post("/v1/decisions", json={"customer_id": "C1", "channel": "web"}).json()
        http.post(
            f"/v1/decisions/{decision['decision_id']}/outcomes",
            json={"offer_id": decision["offers"][0]["offer_id"], "outcome": "accepted"},
        )


def test_versions_are_recorded_and_rollback_pins_every_decision(service: Service) -> None:
    http = service.client
    http.put("/v1/offers/o1", json=make_offer(channels=["web"]))
    _learn_some(service, 3)
    first = service.wait_learned(3)["model_version"]
    time.sleep(service.settings.learner_checkpoint_s * 1.5)
    _learn_some(service, 3)
    service.wait_learned(6)
    state = http.get("/v1/models").json()
    assert state["latest_version"] > first
    assert first in [v["version"] for v in state["versions"]]

    pinned = http.post("/v1/models/rollback", json={"version": first})
    assert pinned.status_code == 200 and pinned.json()["pinned_version"] == first
    decision = http.post("/v1/decisions", json={"customer_id": "C1", "channel": "web"}).json()
    assert decision["model_version"] == first

    # the learner keeps learning, but the pinned version keeps serving
    _learn_some(service, 2)
    time.sleep(service.settings.learner_checkpoint_s * 2)
    decision = http.post("/v1/decisions", json={"customer_id": "C1", "channel": "web"}).json()
    assert decision["model_version"] == first

    unpinned = http.delete("/v1/models/pin").json()
    assert unpinned["pinned_version"] is None
    assert unpinned["serving_version"] == unpinned["latest_version"] > first


def test_rollback_to_a_missing_version_is_refused(service: Service) -> None:
    response = service.client.post("/v1/models/rollback", json={"version": 999})
    assert response.status_code == 422 and response.json()["field"] == "version"


def test_version_times_say_their_time_zone(service: Service) -> None:
    """``created_at`` is UTC and says so, like every other time in the API (SQLite's naive
    timestamps read as local time by a client)."""
    service.client.put("/v1/offers/o1", json=make_offer(channels=["web"]))
    _learn_some(service, 1)
    service.wait_learned(1)
    for versions in (
        service.client.get("/v1/models").json()["versions"],
        service.client.get("/v1/metrics/learning").json()["model_versions"],
    ):
        assert versions, versions
        for version in versions:
            created = datetime.fromisoformat(version["created_at"])
            assert created.utcoffset() == timedelta(0), version
