"""``GET /metrics``: valid Prometheus text with the decision, outcome, error and learner figures."""

from __future__ import annotations

import shutil
import subprocess

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import make_offer
from tests.services import Service


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_decisions_outcomes_errors_and_lag(service: Service) -> None:
    http = service.client
    http.put("/v1/offers/o1", json=make_offer(channels=["web"]))
    before = _samples(httpx.get(f"{service.url}/metrics").text)
    for _ in range(3):
        d = http.post("/v1/decisions", json={"customer_id": "C1", "channel": "web"}).json()
    http.post(
        f"/v1/decisions/{d['decision_id']}/outcomes", json={"offer_id": "o1", "outcome": "accepted"}
    )
    http.post("/v1/decisions", json={"channel": "web"})  # a 422
    service.wait_learned(1)

    response = httpx.get(f"{service.url}/metrics")  # no key needed, like /healthz
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = _samples(response.text)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("nbo_decision_seconds_count", channel="web") == 3
    decided = delta("nbo_decisions_total", channel="web", mode="model")
    assert decided + delta("nbo_decisions_total", channel="web", mode="control") == 3
    assert delta("nbo_outcomes_total", outcome="accepted", status="recorded") == 1
    assert delta("nbo_errors_total", status="422") == 1
    assert after[("nbo_model_version", ())] >= 1
    assert after[("nbo_learner_lag", ())] >= 0

    promtool = shutil.which("promtool")
    if promtool:  # CI installs it; the parser above already checked the format
        check = subprocess.run(
            [promtool, "check", "metrics"], input=response.text, capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr


def test_channels_no_offer_is_for_share_one_label(service: Service) -> None:
    """A channel name is the caller's to choose: a label per name would let any client grow
    every worker's memory and every scrape without bound (one histogram per name). Channels of
    the catalogue keep their own label; the rest count as ``other``."""
    http = service.client
    http.put("/v1/offers/o1", json=make_offer(channels=["web"]))
    before = _samples(httpx.get(f"{service.url}/metrics").text)
    for n in range(20):
        body = {"customer_id": "C1", "channel": f"made-up-{n}"}
        assert http.post("/v1/decisions", json=body).status_code == 200
    assert http.post("/v1/decisions", json={"customer_id": "C1", "channel": "web"}).is_success
    text = httpx.get(f"{service.url}/metrics").text
    assert "made-up" not in text
    after = _samples(text)
    key = ("nbo_decision_seconds_count", (("channel", "other"),))
    assert after[key] - before.get(key, 0.0) == 20
    web = ("nbo_decision_seconds_count", (("channel", "web"),))
    assert after[web] - before.get(web, 0.0) == 1
