"""Failure modes against real processes, as the README's "Failure modes" section states them:

- the database stops: decisions and outcomes go on (catalogue in memory, keys checked before stay
  valid), marketer writes and reads get 503 with the reason, /readyz says so; all recovers
  without a restart;
- the disk under NBO_DATA_DIR fills up: decisions answer degraded (unlogged), outcomes and
  catalogue writes get 503 (the caller retries; nothing is lost), no bare 500; freeing space
  recovers without a restart;
- Redis is slow (DEBUG SLEEP): decisions answer degraded within the client timeout, outcomes get
  503 and a retry counts once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import redis

from feature_store import start_bundled_redis
from feature_store.server import free_port
from tests.factories import make_customer, make_offer
from tests.faults import fill, own_postgres, tiny_disk
from tests.services import run_service


def eventually(check: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout_s}s: {what}"
        time.sleep(0.1)


def decide(http: httpx.Client, customer: str = "C1", channel: str = "web") -> httpx.Response:
    return http.post("/v1/decisions", json={"customer_id": customer, "channel": channel})


def test_database_outage(redis_url: str, tmp_path: Path) -> None:
    with (
        own_postgres() as pg,
        run_service(redis_url, pg.url, tmp_path / "data", seed=1, auth_cache_s=0.2) as service,
    ):
        admin = service.client
        assert admin.put("/v1/offers/fibre", json=make_offer(channels=["web"])).status_code == 201
        admin.put("/v1/customers/C1", json=make_customer())
        channel = httpx.Client(
            base_url=service.url,
            headers={"Authorization": f"Bearer {service.key_for('channel')}"},
        )
        assert decide(channel).status_code == 200  # the key is now known to the service
        new_key = service.key_for("channel")  # made, but never used before the outage

        pg.stop()
        time.sleep(0.3)  # past the key cache TTL: the next check must go to the database
        during = [decide(channel) for _ in range(5)]
        assert all(r.status_code == 200 for r in during), during[0].text
        assert all(r.json()["offers"][0]["offer_id"] == "fibre" for r in during)
        assert all(r.json()["degraded"] is False for r in during)  # Redis is fine
        outcome = channel.post(
            f"/v1/decisions/{during[0].json()['decision_id']}/outcomes",
            json={"offer_id": "fibre", "outcome": "accepted"},
        )
        assert outcome.status_code == 202 and outcome.json()["status"] == "recorded"

        write = admin.put("/v1/offers/tv", json=make_offer(channels=["web"]))
        assert write.status_code == 503, write.text
        assert write.json()["error"] == "database_unavailable"
        assert "database is unavailable" in write.json()["detail"]
        assert write.headers["retry-after"]
        assert admin.get("/v1/offers").status_code == 503
        unknown = httpx.post(
            f"{service.url}/v1/decisions",
            json={"customer_id": "C1", "channel": "web"},
            headers={"Authorization": f"Bearer {new_key}"},
        )
        assert unknown.status_code == 503  # cannot be checked: not "unknown key"
        garbage = httpx.post(  # the key is checked before the body, and cannot be
            f"{service.url}/v1/decisions",
            content=b"not json",
            headers={"Authorization": f"Bearer {new_key}", "content-type": "application/json"},
        )
        assert garbage.status_code == 503, garbage.text
        assert garbage.json()["error"] == "unavailable"
        ready = httpx.get(f"{service.url}/readyz")
        assert ready.status_code == 503
        assert ready.json()["database"] == "unavailable" and ready.json()["redis"] == "ok"

        pg.start()
        eventually(lambda: httpx.get(f"{service.url}/readyz").status_code == 200, "ready again")
        assert admin.put("/v1/offers/tv", json=make_offer(channels=["web"])).status_code == 201
        eventually(
            lambda: (
                "tv" in {o["offer_id"] for o in decide(admin).json()["offers"]}
                or len(admin.get("/v1/offers").json()) == 2
            ),
            "the new offer is in the catalogue",
        )
        assert (
            decide(
                httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {new_key}"})
            ).status_code
            == 200
        )
        service.wait_learned(1)


def test_full_disk_under_the_data_dir(tmp_path: Path) -> None:
    with tiny_disk(tmp_path / "disk") as disk:
        port = free_port()
        bundled = start_bundled_redis(disk / "redis", port=port)  # AOF on the small disk
        database_url = f"sqlite:///{disk / 'nbo.db'}"
        try:
            with run_service(bundled.url, database_url, disk / "data", seed=1) as service:
                http = service.client
                assert http.put("/v1/offers/fibre", json=make_offer(channels=["web"])).is_success
                http.put("/v1/customers/C1", json=make_customer())
                kept = decide(http).json()
                assert kept["degraded"] is False

                filler = fill(disk)
                answers = [decide(http) for _ in range(5)]
                assert all(a.status_code == 200 for a in answers)
                eventually(lambda: decide(http).json()["degraded"] is True, "degraded")
                outcome_url = f"/v1/decisions/{kept['decision_id']}/outcomes"
                refused = http.post(outcome_url, json={"offer_id": "fibre", "outcome": "accepted"})
                assert refused.status_code == 503 and refused.headers["retry-after"]
                assert refused.json()["detail"]  # a message, not a bare 500
                write = http.put("/v1/offers/tv", json=make_offer(channels=["web"]))
                assert write.status_code == 503, write.text
                assert "full" in write.json()["detail"]
                assert http.get("/v1/offers/fibre").status_code == 200  # reads go on

                filler.unlink()
                eventually(lambda: decide(http).json()["degraded"] is False, "recovered")
                retried = http.post(outcome_url, json={"offer_id": "fibre", "outcome": "accepted"})
                assert retried.status_code == 202 and retried.json()["status"] == "recorded"
                assert http.put("/v1/offers/tv", json=make_offer(channels=["web"])).is_success
                service.wait_learned(1)
        finally:
            bundled.stop()


def test_slow_redis(database_url: str, tmp_path: Path) -> None:
    bundled = start_bundled_redis(tmp_path / "redis", port=free_port(), persist=False)
    try:
        with run_service(bundled.url, database_url, tmp_path / "data", seed=1) as service:
            http = service.client
            http.put("/v1/offers/fibre", json=make_offer(channels=["web"]))
            http.put("/v1/customers/C1", json=make_customer())
            first, second = decide(http).json(), decide(http).json()
            accept = {"offer_id": "fibre", "outcome": "accepted"}
            assert http.post(
                f"/v1/decisions/{first['decision_id']}/outcomes", json=accept
            ).is_success

            sleeper = redis.Redis.from_url(bundled.url)
            stall = threading.Thread(target=sleeper.execute_command, args=("DEBUG", "SLEEP", 4))
            stall.start()
            time.sleep(0.2)
            slowest = 0.0
            for _ in range(5):
                started = time.monotonic()
                answer = decide(http)
                slowest = max(slowest, time.monotonic() - started)
                assert answer.status_code == 200 and answer.json()["degraded"] is True
                assert answer.json()["offers"][0]["offer_id"] == "fibre"
            # the Redis client times out after 1 s; then the breaker answers at once
            assert slowest < 2.5, f"a decision waited {slowest:.1f}s for a stalled Redis"
            late = http.post(f"/v1/decisions/{second['decision_id']}/outcomes", json=accept)
            assert late.status_code == 503 and late.headers["retry-after"]
            stall.join()
            sleeper.close()

            eventually(lambda: decide(http).json()["degraded"] is False, "recovered")
            retried = http.post(f"/v1/decisions/{second['decision_id']}/outcomes", json=accept)
            # the refused call may still have run once Redis woke up: then this is a duplicate
            assert retried.status_code == 202
            assert retried.json()["status"] in ("recorded", "duplicate")
            metrics = service.wait_learned(2)
            fibre = next(o for o in metrics["offers"] if o["offer_id"] == "fibre")
            assert fibre["accepted"] == 2 and metrics["outcomes_learned"] == 2  # once each
    finally:
        bundled.stop()
