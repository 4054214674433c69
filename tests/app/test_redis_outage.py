"""Redis goes away: decisions keep answering (degraded), outcomes are refused with 503 and
Retry-After (the caller retries), /readyz says so, and all recovers without a restart."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from feature_store import start_bundled_redis
from feature_store.server import free_port
from tests.factories import make_customer, make_offer
from tests.services import run_service


def test_decisions_survive_a_redis_outage_and_recover(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    redis = start_bundled_redis(tmp_path / "redis", port=port)
    try:
        with run_service(redis.url, database_url, tmp_path / "data", seed=1) as service:
            http = service.client
            http.put("/v1/offers/fibre", json=make_offer(channels=["web"]))
            http.put("/v1/customers/C1", json=make_customer())
            before = http.post("/v1/decisions", json={"customer_id": "C1", "channel": "web"})
            assert before.json()["degraded"] is False

            redis.stop()
            started = time.monotonic()
            during = [
                http.post("/v1/decisions", json={"customer_id": "C1", "channel": "web"})
                for _ in range(20)
            ]
            elapsed = time.monotonic() - started
            assert all(r.status_code == 200 for r in during)
            assert all(r.json()["degraded"] is True for r in during)
            assert all(r.json()["offers"][0]["offer_id"] == "fibre" for r in during)
            assert elapsed < 5.0, f"20 degraded decisions took {elapsed:.1f}s"
            outcome = http.post(
                f"/v1/decisions/{before.json()['decision_id']}/outcomes",
                json={"offer_id": "fibre", "outcome": "accepted"},
            )
            assert outcome.status_code == 503 and outcome.headers["retry-after"] == "1"
            assert httpx.get(f"{service.url}/readyz").status_code == 503

            redis = start_bundled_redis(tmp_path / "redis", port=port)  # same data (AOF)
            deadline = time.monotonic() + 15
            while httpx.get(f"{service.url}/readyz").status_code != 200:
                assert time.monotonic() < deadline, "did not recover"
                time.sleep(0.2)
            time.sleep(1.1)  # the breaker probes again after a second
            after = http.post("/v1/decisions", json={"customer_id": "C1", "channel": "web"})
            assert after.json()["degraded"] is False and after.json()["known_customer"] is True
            retried = http.post(
                f"/v1/decisions/{before.json()['decision_id']}/outcomes",
                json={"offer_id": "fibre", "outcome": "accepted"},
            )
            assert retried.status_code == 202 and retried.json()["status"] == "recorded"
    finally:
        redis.stop()
