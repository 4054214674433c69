"""A web key (one that may sit in a public page) decides and answers for the web channel only."""

from __future__ import annotations

import httpx

from tests.factories import make_customer, make_offer
from tests.services import Service


def test_web_key_is_confined_to_the_web_channel(service: Service) -> None:
    admin = service.client
    admin.put("/v1/offers/fibre", json=make_offer(channels=["web", "call_center"]))
    admin.put("/v1/customers/C1", json=make_customer())
    web = httpx.Client(
        base_url=service.url, headers={"Authorization": f"Bearer {service.key_for('web')}"}
    )
    # deciding: web yes, any other channel no
    on_web = web.post("/v1/decisions", json={"customer_id": "C1", "channel": "web"})
    assert on_web.status_code == 200 and on_web.json()["offers"]
    phone = web.post("/v1/decisions", json={"customer_id": "C1", "channel": "call_center"})
    assert phone.status_code == 403 and "web channel" in phone.json()["detail"]
    # nothing about the customer: no exclusions (they quote the profile), no value tier, and
    # not even whether nbo knows them (a channel key gets both)
    explained = {"customer_id": "C1", "channel": "web", "explain": True}
    refused_explain = web.post("/v1/decisions", json=explained)
    assert refused_explain.status_code == 403, refused_explain.text
    assert refused_explain.json()["detail"].startswith("explain")
    stranger = {"customer_id": "NOBODY", "channel": "web"}
    for reply in (on_web, web.post("/v1/decisions", json=stranger)):
        reasons = " ".join(reply.json()["offers"][0]["reasons"])
        assert "value tier" not in reasons and "unknown customer" not in reasons, reasons
    as_channel = admin.post("/v1/decisions", json=stranger).json()
    assert "unknown customer" in " ".join(as_channel["offers"][0]["reasons"])
    known = admin.post("/v1/decisions", json={"customer_id": "C1", "channel": "web"}).json()
    assert "customer value tier" in " ".join(known["offers"][0]["reasons"])
    assert admin.post("/v1/decisions", json=explained).json()["excluded"] is not None

    # answering: a call-centre decision (its id seen somehow) is out of bounds, and nothing lands
    call = admin.post("/v1/decisions", json={"customer_id": "C1", "channel": "call_center"})
    call_url = f"/v1/decisions/{call.json()['decision_id']}/outcomes"
    refused = web.post(call_url, json={"offer_id": "fibre", "outcome": "accepted"})
    assert refused.status_code == 403, refused.text
    assert "web channel" in refused.json()["detail"]
    first = admin.post(call_url, json={"offer_id": "fibre", "outcome": "declined"})
    assert first.json()["status"] == "recorded"  # the refused call wrote nothing

    # its own web decision: fine; an unknown decision: 404 as for anyone
    web_url = f"/v1/decisions/{on_web.json()['decision_id']}/outcomes"
    ok = web.post(web_url, json={"offer_id": "fibre", "outcome": "accepted"})
    assert ok.status_code == 202 and ok.json()["status"] == "recorded"
    unknown = web.post(
        "/v1/decisions/0badc0de/outcomes", json={"offer_id": "fibre", "outcome": "accepted"}
    )
    assert unknown.status_code == 404 and unknown.json()["field"] == "decision_id"
    # and nothing else: profiles, events, metrics
    assert web.get("/v1/customers/C1").status_code == 403
    assert (
        web.post("/v1/events", json={"customer_id": "C1", "type": "page_view"}).status_code == 403
    )
    assert web.get("/v1/metrics/learning").status_code == 403
