"""nbo on a real three-master Redis Cluster (``NBO_REDIS_CLUSTER=true``), through HTTP.

Every multi-key operation must stay inside one hash slot: a customer's keys share ``{c:ID}``, a
decision's log, window queue, counters, outcome and archive streams share ``{o:SHARD}``, the model
keys share ``{m}``. The flows below touch every store: a cross-slot command would fail here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from redis.cluster import key_slot

from app.moments import scan_dates
from feature_store import scan_features
from tests.cluster import redis_cluster
from tests.factories import make_customer, make_offer, noon_utc_offset
from tests.services import Service, run_service

T = TypeVar("T")


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as url:
        yield url


@pytest.fixture
def cluster_service(cluster_url: str, database_url: str, tmp_path: Path) -> Iterator[Service]:
    with run_service(
        cluster_url,
        database_url,
        tmp_path / "data",
        seed=1,
        redis_cluster=True,
        stream_shards=3,
        control_share=0.0,
    ) as svc:
        yield svc


def _on_server(service: Service, coro: Coroutine[Any, Any, T]) -> T:
    loop = service.runtime._tasks[0].get_loop()
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)


def test_decide_outcome_learn_and_metrics_on_a_cluster(cluster_service: Service) -> None:
    svc = cluster_service
    for offer_id in ("A", "B"):
        assert svc.client.put(f"/v1/offers/{offer_id}", json=make_offer()).status_code in (200, 201)
    reported = 0
    for i in range(60):
        customer = f"C{i}"
        assert svc.client.put(f"/v1/customers/{customer}", json=make_customer()).status_code == 200
        d = svc.client.post(
            "/v1/decisions",
            json={"customer_id": customer, "channel": "web", "interaction": "visit"},
        )
        assert d.status_code == 200, d.text
        body = d.json()
        offer = body["offers"][0]["offer_id"]
        outcome = svc.client.post(
            f"/v1/decisions/{body['decision_id']}/outcomes",
            json={"offer_id": offer, "outcome": "accepted" if offer == "A" else "declined"},
        )
        assert outcome.status_code == 202, outcome.text
        reported += 1
    metrics = svc.wait_learned(reported)
    assert sum(o["impressions"] for o in metrics["offers"]) == reported
    history = svc.client.get("/v1/customers/C1/history").json()["items"]
    assert [h["type"] for h in history] == ["outcome", "decision"]
    _on_server(svc, svc.runtime.new_archiver().drain())
    assert svc.runtime.archive.archived_count() == (2 * reported, reported)


def test_events_triggers_outbound_and_erase_on_a_cluster(cluster_service: Service) -> None:
    svc = cluster_service
    svc.client.put("/v1/offers/E", json=make_offer(channels=["email"]))
    svc.client.put("/v1/customers/C9", json=make_customer(utc_offset_h=noon_utc_offset()))
    svc.client.put("/v1/triggers/wed", json={"event_type": "life_event", "channel": "email"})
    one = svc.client.post(
        "/v1/events", json={"customer_id": "C9", "type": "life_event", "name": "marriage"}
    )
    assert one.status_code == 202, one.text
    bulk = svc.client.post(
        "/v1/events/bulk",
        json={
            "events": [
                {"customer_id": f"C{i}", "type": "purchase", "id": f"p{i}"} for i in range(50)
            ]
        },
    )
    assert bulk.status_code == 202 and bulk.json()["recorded"] == 50, bulk.text
    customer = svc.client.get("/v1/customers/C9").json()
    assert customer["aggregates"]["purchase_count_1h"] == 1
    queued = svc.client.get("/v1/outbound", params={"channel": "email"}).json()
    assert any(m["customer_id"] == "C9" for m in queued["messages"]), queued
    assert svc.client.delete("/v1/customers/C9").status_code == 204
    assert svc.client.get("/v1/customers/C9").status_code == 404


def test_the_date_scan_finds_customers_on_every_node(cluster_service: Service) -> None:
    """SCAN on a cluster must visit every master: customers hash to all three."""
    svc = cluster_service
    now = datetime.now(UTC)
    noon = ((12 - now.hour + 12) % 24) - 12  # a UTC offset at which it is midday now
    local = now + timedelta(hours=noon)
    customers = [f"B{i}" for i in range(30)]
    for customer_id in customers:
        features = {"birthday": local.strftime("%m-%d"), "utc_offset_h": noon}
        assert svc.client.put(
            f"/v1/customers/{customer_id}", json={"features": features}
        ).is_success
    slots = {_slot(svc, customer_id) for customer_id in customers}
    assert len(slots) > 1
    assert _on_server(svc, scan_dates(svc.runtime, now)) == len(customers)
    assert _on_server(svc, scan_dates(svc.runtime, now)) == 0
    # the first walk completed the customer index; from now on the walk reads it, on every node
    assert svc.client.delete("/v1/customers/B0").status_code == 204
    walked = _on_server(svc, _birthdays(svc))
    assert sorted(walked) == sorted(customers[1:])


async def _birthdays(svc: Service) -> list[str]:
    store = svc.runtime.store
    assert await store.client.exists(store.keys.customer_index_complete)
    return [
        customer_id
        async for page in scan_features(store.client, store.keys, ("birthday",))
        for customer_id, _ in page
    ]


def _slot(svc: Service, customer_id: str) -> int:
    """Which of the three masters holds the customer (slots are split in thirds)."""
    return int(key_slot(svc.runtime.store.keys.features(customer_id).encode()) * 3 // 16384)
