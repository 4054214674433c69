"""Decisions in flight together are scored and chosen together (decisioning.batching): over a
real server, concurrent decisions get batched, and each answer is what it would be alone (its
own eligible offers, its own probability, a log an outcome can join)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import numpy as np

from tests.factories import make_customer, make_offer
from tests.services import Service


def test_concurrent_decisions_are_batched_and_each_stands_alone(service: Service) -> None:
    for i in range(6):
        service.client.put(f"/v1/offers/o{i}", json=make_offer(name=f"O{i}", value=10.0 + i))
    # seniors are not eligible for o0 and o1: each row of a batch chooses among its own
    rule = [{"feature": "segment", "op": "ne", "value": "senior"}]
    for i in (0, 1):
        body = make_offer(name=f"O{i}", value=10.0 + i, eligibility=rule)
        assert service.client.put(f"/v1/offers/o{i}", json=body).status_code == 200
    for c in range(40):
        customer = make_customer(segment="senior" if c % 2 else "family")
        service.client.put(f"/v1/customers/C{c}", json=customer)
    key = service.key_for("channel")
    batch = service.runtime.decider.batch
    batches, decided = batch.batches, batch.decisions

    async def decide_all() -> list[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=service.url, headers=headers, timeout=30) as http:
            bodies = [{"customer_id": f"C{c}", "channel": "web"} for c in range(40)] * 3
            answers = await asyncio.gather(*(http.post("/v1/decisions", json=b) for b in bodies))
            assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
            return [a.json() for a in answers]

    answers = asyncio.run(decide_all())
    assert batch.decisions - decided >= len(answers)
    assert batch.batches - batches < batch.decisions - decided  # some were batched together
    for answer in answers:
        (offer,) = answer["offers"]
        if answer["customer_id"] in {f"C{c}" for c in range(1, 40, 2)}:
            assert offer["offer_id"] not in ("o0", "o1")
        assert 0.0 < offer["probability"] <= 1.0
        assert 0.0 < offer["propensity"] < 1.0
    # every decision was logged as decided: its outcome joins it
    sample = answers[::17]
    for answer in sample:
        offer_id = answer["offers"][0]["offer_id"]
        response = service.client.post(
            f"/v1/decisions/{answer['decision_id']}/outcomes",
            json={"offer_id": offer_id, "outcome": "accepted"},
        )
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "recorded"
    probabilities = np.array([a["offers"][0]["probability"] for a in answers])
    assert len(set(probabilities.round(9).tolist())) > 1  # each row its own, not one for all
