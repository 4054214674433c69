"""A new offer in an established model: the served decisions draw it with its novelty and say so."""

from __future__ import annotations

import asyncio
import time

from feature_store import Keys, RedisModelStore, connect
from models import BanditModel
from tests.factories import make_customer, make_offer
from tests.services import Service

VERSION = 1000
ATTRIBUTES = {"category": "broadband", "price_tier": "mid"}


def _publish(service: Service, model: BanditModel) -> None:
    async def publish() -> None:
        client = connect(service.settings.redis_url)
        try:
            store = RedisModelStore(client, Keys(prefix=service.settings.key_prefix))
            await store.publish_snapshot(VERSION, model.export(version=VERSION).to_bytes())
        finally:
            await client.aclose()

    asyncio.run(publish())


def test_a_new_offer_is_drawn_with_its_novelty_and_the_reasons_say_so(
    greedy_service: Service,
) -> None:
    http = greedy_service.client
    for offer_id in ("o1", "o2", "new"):
        body = make_offer(name=offer_id, channels=["web"], value=1.0, attributes=ATTRIBUTES)
        assert http.put(f"/v1/offers/{offer_id}", json=body).status_code == 201
    http.put("/v1/customers/C1", json=make_customer(segment="family"))
    # a model that has learned 3,000 outcomes of the two older offers, none of the new one
    model = BanditModel(novelty_variance=2.0, novelty_outcomes=1000.0)
    for k in range(3000):
        offer = {"id": "o1" if k % 2 else "o2", **ATTRIBUTES}
        model.learn_pair({"segment": "family", "channel": "web"}, offer, k % 15 == 0)
    _publish(greedy_service, model)
    deadline = time.monotonic() + 30
    while http.get("/readyz").json()["model_version"] != VERSION:
        assert time.monotonic() < deadline, "the workers never loaded the published model"
        time.sleep(0.2)

    shown: dict[str, list[list[str]]] = {}
    for _ in range(60):
        answer = http.post("/v1/decisions", json={"customer_id": "C1", "channel": "web"}).json()
        assert answer["model_version"] == VERSION
        (offer,) = answer["offers"]
        shown.setdefault(offer["offer_id"], []).append(offer["reasons"])
    assert shown.get("new"), f"the new offer was never drawn: {sorted(shown)}"
    for offer_id, reasons in shown.items():
        says_new = [
            any(r.startswith("new offer: drawn with extra variance") for r in rs) for rs in reasons
        ]
        assert all(says_new) if offer_id == "new" else not any(says_new), offer_id
