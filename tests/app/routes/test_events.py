"""Customer events through HTTP: aggregates over windows, duplicates and late events, triggers
that queue outbound messages through the funnel (and those it holds back), bulk validation,
the date scan and erasure, on a real Redis and a real SQL database."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from app.moments import scan_dates
from decisioning import aggregate_features
from tests.factories import make_offer, noon_utc_offset
from tests.services import Service, run_service

T = TypeVar("T")


def _on_server(service: Service, coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on the server's event loop (its Redis client belongs to that loop)."""
    loop = service.runtime._tasks[0].get_loop()
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)


def _features(service: Service, customer_id: str, now: datetime) -> dict[str, Any]:
    raw = _on_server(service, service.runtime.store.events.raw(customer_id))
    return aggregate_features(raw, int(now.timestamp() * 1000))


def _event(service: Service, **body: Any) -> dict[str, Any]:
    payload = {"customer_id": "C1", "type": "page_view"} | body
    if isinstance(payload.get("at"), datetime):
        payload["at"] = payload["at"].isoformat()
    response = service.client.post("/v1/events", json=payload)
    assert response.status_code == 202, response.text
    receipt: dict[str, Any] = response.json()
    return receipt


def test_aggregates_over_sliding_windows(service: Service) -> None:
    now = datetime.now(UTC)
    for minutes, value in ((10, 20.0), (3 * 60, 30.0), (2 * 1440, 50.0), (10 * 1440, 100.0)):
        _event(service, type="purchase", at=now - timedelta(minutes=minutes),
               properties={"value": value, "channel": "web"})  # fmt: skip
    _event(service, type="purchase", at=now - timedelta(days=40), properties={"amount": 999})
    for minutes in (1, 5, 59, 61, 23 * 60):
        _event(service, type="page_view", at=now - timedelta(minutes=minutes))

    f = _features(service, "C1", now)
    assert [f[f"purchase_count_{w}"] for w in ("1h", "24h", "7d", "30d")] == [1, 2, 3, 4]
    assert [f[f"purchase_sum_{w}"] for w in ("1h", "24h", "7d", "30d")] == [20, 50, 100, 200]
    assert [f[f"page_view_count_{w}"] for w in ("1h", "24h", "7d")] == [3, 5, 5]
    assert 9 * 60 <= f["purchase_recency_s"] <= 11 * 60
    assert f["last_channel"] == "web" and f["complaint_count_30d"] == 0
    # the same hash read an hour later: the window slides with the clock
    later = _features(service, "C1", now + timedelta(hours=1))
    assert later["purchase_count_1h"] == 0 and later["page_view_count_1h"] == 0


def test_duplicate_and_late_events_count_once_and_in_their_window(service: Service) -> None:
    now = datetime.now(UTC)
    first = _event(service, type="complaint", id="crm-1", at=now - timedelta(minutes=5),
                   properties={"channel": "call_center"})  # fmt: skip
    again = _event(service, type="complaint", id="crm-1", at=now - timedelta(minutes=5),
                   properties={"channel": "call_center"})  # fmt: skip
    assert first["status"] == "recorded" and again["status"] == "duplicate"
    # late: dated three days back, sent after newer events; counts in 7d, not in 24h
    _event(service, type="complaint", id="crm-0", at=now - timedelta(days=3),
           properties={"channel": "email"})  # fmt: skip
    f = _features(service, "C1", now)
    assert f["complaint_count_24h"] == 1 and f["complaint_count_7d"] == 2
    assert f["last_channel"] == "call_center", "a late event must not become the last channel"
    assert f["open_complaint"] is True
    _event(service, type="complaint_resolved", at=now - timedelta(minutes=1))
    assert _features(service, "C1", now)["open_complaint"] is False


def test_cross_channel_memory_and_history(service: Service) -> None:
    """What the customer did on the web is known when they call, and the history holds every
    event, newest first (the contract's history: decisions, outcomes and events)."""
    now = datetime.now(UTC)
    for n in range(3):
        _event(service, type="page_view", name="roaming", id=f"pv{n}",
               properties={"channel": "web"})  # fmt: skip
    _event(service, type="complaint", name="billing", properties={"channel": "call_center"})
    f = _features(service, "C1", now + timedelta(seconds=5))
    assert f["page_view_count_1h"] == 3 and f["page_view_last_name"] == "roaming"
    assert f["last_channel"] == "call_center" and f["open_complaint"] is True
    assert f["complaint_last_name"] == "billing" and f["last_event_type"] == "complaint"
    history = service.client.get("/v1/customers/C1/history").json()["items"]
    assert [(h["type"], h["event_type"]) for h in history] == [("event", "complaint")] + [
        ("event", "page_view")
    ] * 3
    assert history[0]["name"] == "billing" and history[1]["name"] == "roaming"


def test_event_types_can_be_kept_out_of_the_history(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    """``NBO_EVENTS_HISTORY_SKIP`` keeps a busy site's page views out of the history an agent
    reads; they still count in the aggregates."""
    with run_service(
        redis_url, database_url, tmp_path / "data", events_history_skip=["page_view"]
    ) as service:
        for n in range(3):
            _event(service, type="page_view", name="roaming", id=f"pv{n}")
        _event(service, type="complaint", name="billing")
        f = _features(service, "C1", datetime.now(UTC) + timedelta(seconds=5))
        assert f["page_view_count_1h"] == 3
        history = service.client.get("/v1/customers/C1/history").json()["items"]
        assert [(h["type"], h["event_type"]) for h in history] == [("event", "complaint")]


def _outbound_setup(service: Service, *, consent: bool = True) -> None:
    http = service.client
    http.put("/v1/offers/wedding_bundle",
             json=make_offer(channels=["email", "web"], value=50))  # fmt: skip
    body: dict[str, Any] = {"features": {"utc_offset_h": noon_utc_offset()}}
    if consent:
        body["consent"] = {"email": True}
    assert http.put("/v1/customers/C1", json=body).is_success
    trigger = {"event_type": "life_event", "event_name": "marriage", "channel": "email"}
    assert http.put("/v1/triggers/wedding", json=trigger).status_code == 201


def test_a_matching_event_queues_an_offer_and_writes_the_history(service: Service) -> None:
    _outbound_setup(service)
    other = _event(service, type="life_event", name="birth", id="ev-0")
    assert other["outbound"] == []
    receipt = _event(service, type="life_event", name="marriage", id="ev-1")
    [result] = receipt["outbound"]
    assert result["queued"] is True and result["offer_id"] == "wedding_bundle", result
    channel_key = service.key_for("channel")
    listed = service.client.get(
        "/v1/outbound", params={"channel": "email"},
        headers={"Authorization": f"Bearer {channel_key}"},
    ).json()["messages"]  # fmt: skip
    assert [(m["customer_id"], m["offer_id"], m["decision_id"]) for m in listed] == [
        ("C1", "wedding_bundle", result["decision_id"])
    ]
    assert listed[0]["event_id"] == "ev-1" and listed[0]["trigger_id"] == "wedding"
    history = service.client.get("/v1/customers/C1/history").json()["items"]
    outbound = [h for h in history if h["type"] == "outbound"]
    assert [(h["offer_id"], h["channel"]) for h in outbound] == [("wedding_bundle", "email")]
    decision = next(h for h in history if h["type"] == "decision")
    assert decision["interaction"] == "event:life_event"
    assert decision["decision_id"] == result["decision_id"]
    # the sender reports the response like any channel: the decision was logged
    outcome = service.client.post(
        f"/v1/decisions/{result['decision_id']}/outcomes",
        json={"offer_id": "wedding_bundle", "outcome": "accepted"},
    )
    assert outcome.status_code == 202, outcome.text
    # the same event again is a duplicate: no second message
    assert _event(service, type="life_event", name="marriage", id="ev-1")["outbound"] == []


def test_senders_claim_and_acknowledge_as_a_consumer_group(service: Service) -> None:
    _outbound_setup(service)
    _event(service, type="life_event", name="marriage", id="ev-1")
    http = service.client
    first = http.post("/v1/outbound/email/claim", json={"consumer": "mailer-1", "count": 10})
    [message] = first.json()["messages"]
    assert message["offer_id"] == "wedding_bundle"
    # delivered once: another consumer gets nothing new, but may take it over once idle
    other = http.post("/v1/outbound/email/claim", json={"consumer": "mailer-2"}).json()
    assert other["messages"] == []
    taken = http.post(
        "/v1/outbound/email/claim", json={"consumer": "mailer-2", "reclaim_idle_s": 0}
    ).json()["messages"]
    assert [m["id"] for m in taken] == [message["id"]]
    acked = http.post("/v1/outbound/email/ack", json={"ids": [message["id"]]}).json()
    assert acked["acked"] == 1
    again = http.post("/v1/outbound/email/ack", json={"ids": [message["id"]]}).json()
    assert again["acked"] == 0
    bad = http.post("/v1/outbound/email/ack", json={"ids": ["not-an-id"]})
    assert bad.status_code == 422 and bad.json()["field"] == "ids[0]"


def test_a_trigger_is_held_back_without_consent(service: Service) -> None:
    _outbound_setup(service, consent=False)
    [result] = _event(service, type="life_event", name="marriage")["outbound"]
    assert result["queued"] is False and result["reason"].startswith("consent:"), result
    listed = service.client.get("/v1/outbound", params={"channel": "email"}).json()
    assert listed["messages"] == []


def test_a_second_trigger_in_the_week_is_held_back_by_the_weekly_limit(service: Service) -> None:
    _outbound_setup(service)
    service.client.put(
        "/v1/triggers/contract",
        json={"event_type": "contract_end", "channel": "email"},
    )
    first = _event(service, type="life_event", name="marriage")["outbound"]
    second = _event(service, type="contract_end")["outbound"]
    assert first[0]["queued"] is True
    assert second[0]["queued"] is False and second[0]["reason"].startswith("outbound_limit:")
    listed = service.client.get("/v1/outbound", params={"channel": "email"}).json()
    assert len(listed["messages"]) == 1


def test_a_trigger_that_finds_no_offer_does_not_use_up_the_week(service: Service) -> None:
    _outbound_setup(service)
    vip_only = [{"feature": "segment", "op": "eq", "value": "vip"}]
    service.client.put(
        "/v1/offers/wedding_bundle", json=make_offer(channels=["email"], eligibility=vip_only)
    )
    [nothing] = _event(service, type="life_event", name="marriage", id="m1")["outbound"]
    assert nothing["queued"] is False and nothing["reason"].startswith("eligibility:")
    service.client.put(
        "/v1/customers/C1",
        json={"features": {"utc_offset_h": noon_utc_offset(), "segment": "vip"},
              "consent": {"email": True}},
    )  # fmt: skip
    [sent] = _event(service, type="life_event", name="marriage", id="m2")["outbound"]
    assert sent["queued"] is True, sent


def test_a_trigger_restricted_to_offers_and_stale_events(greedy_service: Service) -> None:
    service = greedy_service
    _outbound_setup(service)
    service.client.put("/v1/offers/cheap_note", json=make_offer(channels=["email"], value=1))
    trigger = {"event_type": "life_event", "channel": "email", "offers": ["cheap_note"]}
    assert service.client.put("/v1/triggers/wedding", json=trigger).status_code == 200
    stale = _event(service, type="life_event", at=datetime.now(UTC) - timedelta(days=2))
    assert stale["outbound"][0]["reason"].startswith("stale"), stale
    [result] = _event(service, type="life_event", name="marriage")["outbound"]
    assert result["offer_id"] == "cheap_note", "the more valuable offer is not in the trigger"
    unknown = service.client.put(
        "/v1/triggers/t2", json={"event_type": "purchase", "channel": "email", "offers": ["nope"]}
    )
    assert unknown.status_code == 422 and unknown.json()["field"] == "offers[0]"
    wrong_channel = service.client.put(
        "/v1/triggers/t2",
        json={"event_type": "purchase", "channel": "sms", "offers": ["cheap_note"]},
    )
    assert wrong_channel.status_code == 422 and "sms" in wrong_channel.json()["detail"]


def test_triggers_crud_and_roles(service: Service) -> None:
    http = service.client
    body = {"event_type": "complaint", "channel": "sms"}
    channel = {"Authorization": f"Bearer {service.key_for('channel')}"}
    marketer = {"Authorization": f"Bearer {service.key_for('marketer')}"}
    assert http.put("/v1/triggers/t1", json=body, headers=channel).status_code == 403
    assert http.put("/v1/triggers/t1", json=body, headers=marketer).status_code == 201
    assert http.get("/v1/triggers/t1").json() == {
        "trigger_id": "t1", "event_type": "complaint", "event_name": None, "channel": "sms",
        "offers": None, "active": True,
    }  # fmt: skip
    assert [t["trigger_id"] for t in http.get("/v1/triggers").json()] == ["t1"]
    bad = http.put("/v1/triggers/t1", json={"event_type": "Bad Type", "channel": "sms"})
    assert bad.status_code == 422 and bad.json()["field"] == "event_type"
    assert http.delete("/v1/triggers/t1", headers=marketer).status_code == 204
    missing = http.get("/v1/triggers/t1")
    assert missing.status_code == 404 and missing.json()["field"] == "trigger_id"
    event = {"customer_id": "C1", "type": "purchase"}
    assert http.post("/v1/events", json=event, headers=marketer).status_code == 403
    assert http.post("/v1/events", json=event, headers=channel).status_code == 202


def test_an_offer_a_trigger_names_is_not_deleted_from_under_it(service: Service) -> None:
    http = service.client
    assert http.put("/v1/offers/retain", json=make_offer(channels=["sms"])).is_success
    trigger = {"event_type": "complaint", "channel": "sms", "offers": ["retain"]}
    assert http.put("/v1/triggers/t2", json=trigger).status_code == 201
    refused = http.delete("/v1/offers/retain")
    assert refused.status_code == 409 and refused.json()["field"] == "offer_id", refused.text
    assert "'t2'" in refused.json()["detail"]
    assert http.get("/v1/offers/retain").status_code == 200
    assert http.put("/v1/triggers/t2", json=trigger).status_code == 200  # still saves
    assert http.delete("/v1/triggers/t2").status_code == 204
    assert http.delete("/v1/offers/retain").status_code == 204


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"type": "Page View"}, "events[1].type"),
        ({"customer_id": ""}, "events[1].customer_id"),
        ({"properties": {"value": {"nested": 1}}}, "events[1].properties.value"),
        ({"at": "yesterday"}, "events[1].at"),
        ({"at": "2999-01-01T00:00:00Z"}, "events[1].at"),
        ({"at": "1970-01-01T00:00:00Z"}, "events[1].at"),
        ({"properties": {"channel": 7}}, "events[1].properties.channel"),
        ({"properties": {"value": 1e308}}, "events[1].properties.value"),
        ({"properties": {"amount": "12"}}, "events[1].properties.amount"),
        ({"properties": {"value": True}}, "events[1].properties.value"),
        ({"colour": "red"}, "events[1].colour"),
    ],
)
def test_bulk_validates_every_event_before_writing_any(
    service: Service, bad: dict[str, Any], field: str
) -> None:
    events = [
        {"customer_id": "C1", "type": "purchase", "id": "b0", "properties": {"value": 5}},
        {"customer_id": "C1", "type": "purchase", "id": "b1"} | bad,
        {"customer_id": "C2", "type": "purchase", "id": "b2"},
    ]
    response = service.client.post("/v1/events/bulk", json={"events": events})
    assert response.status_code == 422, response.text
    assert response.json()["field"].startswith(field), response.json()
    assert _on_server(service, service.runtime.store.events.raw("C1")) == {}
    assert _on_server(service, service.runtime.store.events.raw("C2")) == {}


def test_bulk_counts_each_event_id_once(service: Service) -> None:
    now = datetime.now(UTC)
    events = [
        {"customer_id": f"C{n % 3}", "type": "purchase", "id": f"p{n % 10}",
         "at": (now - timedelta(minutes=n)).isoformat(), "properties": {"value": 1}}
        for n in range(12)
    ]  # fmt: skip
    first = service.client.post("/v1/events/bulk", json={"events": events}).json()
    assert (first["received"], first["recorded"], first["duplicates"]) == (12, 12, 0)
    events.append({"customer_id": "C0", "type": "purchase", "id": "p0"})  # seen: same customer
    second = service.client.post("/v1/events/bulk", json={"events": events}).json()
    assert (second["recorded"], second["duplicates"]) == (0, 13)
    counted = sum(_features(service, f"C{c}", now)["purchase_count_1h"] for c in range(3))
    assert counted == 12
    too_many = service.client.post(
        "/v1/events/bulk", json={"events": [{"customer_id": "C1", "type": "x"}] * 1001}
    )
    assert too_many.status_code == 422 and too_many.json()["field"] == "events"


def test_the_date_scan_emits_birthdays_and_contract_ends_once(service: Service) -> None:
    http = service.client
    now = datetime.now(UTC)
    noon = noon_utc_offset()  # date moments are emitted in the customer's daytime
    local = now + timedelta(hours=noon)
    soon = (local + timedelta(days=10)).date().isoformat()
    later = (local + timedelta(days=90)).date().isoformat()
    for customer_id, features in {
        "B1": {"birthday": local.strftime("%m-%d")},
        "E1": {"contract_end": soon},
        "E2": {"contract_end": later},
        "N1": {"segment": "family"},
        "Night": {"birthday": local.strftime("%m-%d"), "utc_offset_h": noon + 12 - 24 * (noon > 0)},
    }.items():
        features.setdefault("utc_offset_h", noon)
        assert http.put(f"/v1/customers/{customer_id}", json={"features": features}).is_success
    assert _on_server(service, scan_dates(service.runtime, now)) == 2
    assert _on_server(service, scan_dates(service.runtime, now)) == 0, "a rescan counts once"
    assert _features(service, "B1", now)["life_event_last_name"] == "birthday"
    assert _features(service, "E1", now)["contract_end_count_24h"] == 1
    assert _features(service, "E2", now)["contract_end_count_30d"] == 0
    history = http.get("/v1/customers/E1/history").json()["items"]
    assert history[0]["id"] == f"contract_end:E1:{soon}"
    assert history[0]["properties"]["days_left"] == 10


def test_erase_forgets_aggregates_seen_ids_and_queued_messages(service: Service) -> None:
    _outbound_setup(service)
    _event(service, type="life_event", name="marriage", id="ev-1")
    service.client.put("/v1/customers/C2", json={"features": {"utc_offset_h": noon_utc_offset()},
                                                 "consent": {"email": True}})  # fmt: skip
    _event(service, customer_id="C2", type="life_event", name="marriage", id="ev-1")
    assert (
        len(service.client.get("/v1/outbound", params={"channel": "email"}).json()["messages"]) == 2
    )

    removed = _on_server(service, service.runtime.store.events.erase("C1"))
    assert removed >= 4  # the message, the aggregates, the seen ids, the index
    assert _on_server(service, service.runtime.store.events.raw("C1")) == {}
    left = service.client.get("/v1/outbound", params={"channel": "email"}).json()["messages"]
    assert [m["customer_id"] for m in left] == ["C2"]
    # the erased customer's event id is forgotten too: the same id counts as new
    assert _event(service, type="purchase", id="ev-1")["status"] == "recorded"


def test_events_are_features_of_the_next_decision_on_any_channel(greedy_service: Service) -> None:
    """One conversation across channels: a complaint made on the web shapes the call."""
    http = greedy_service.client
    apology = make_offer(
        kind="service", channels=["call_center"], value=50,
        eligibility=[{"feature": "open_complaint", "op": "eq", "value": True}],
    )  # fmt: skip
    http.put("/v1/offers/apology_credit", json=apology)
    http.put("/v1/offers/tv", json=make_offer(channels=["call_center"], value=1))
    http.put("/v1/customers/C7", json={"features": {"segment": "family"}})
    body = {"customer_id": "C7", "channel": "call_center", "interaction": "inbound_call"}
    before = http.post("/v1/decisions", json=body).json()
    assert [o["offer_id"] for o in before["offers"]] == ["tv"]

    event = {"customer_id": "C7", "type": "complaint", "id": "web-77",
             "properties": {"channel": "web"}}  # fmt: skip
    assert http.post("/v1/events", json=event).status_code == 202
    customer = http.get("/v1/customers/C7").json()
    assert customer["aggregates"]["open_complaint"] is True
    assert customer["aggregates"]["complaint_count_24h"] == 1
    assert customer["aggregates"]["last_channel"] == "web"
    after = http.post("/v1/decisions", json=body).json()
    assert after["offers"][0]["offer_id"] == "apology_credit"

    assert http.delete("/v1/customers/C7").status_code == 204
    assert http.get("/v1/customers/C7").status_code == 404


def test_history_is_newest_first_by_when_things_happened(service: Service) -> None:
    """Newest first means by ``at``: an event reported late (dated yesterday) sits below what
    happened since, and a trigger's decision and the outbound message it queued read in the
    order they happened (the message was queued after the decision was made)."""
    _outbound_setup(service)
    http = service.client
    decision = http.post(
        "/v1/decisions", json={"customer_id": "C1", "channel": "web", "interaction": "visit"}
    )
    assert decision.status_code == 200, decision.text
    _event(service, type="purchase", id="late-1", at=datetime.now(UTC) - timedelta(days=1))
    receipt = _event(service, type="life_event", name="marriage", id="ev-1")
    assert receipt["outbound"][0]["queued"] is True, receipt
    items = http.get("/v1/customers/C1/history").json()["items"]
    assert [(i["type"], i.get("event_type")) for i in items] == [
        ("outbound", "life_event"),
        ("decision", None),
        ("event", "life_event"),
        ("decision", None),
        ("event", "purchase"),
    ], items
    times = [datetime.fromisoformat(i["at"]) for i in items]
    assert times == sorted(times, reverse=True), items


def test_claiming_a_channel_nothing_was_queued_for_stores_nothing(service: Service) -> None:
    """A sender may poll before anything is queued, and a caller may name any channel: that
    writes no stream to Redis (one per name, kept for ever, was how any channel key could grow
    Redis without bound), and messages queued afterwards are all delivered."""
    import redis

    http = service.client
    for channel in ("email", "made-up-1", "made-up-2"):
        claimed = http.post(f"/v1/outbound/{channel}/claim", json={"consumer": "mailer-1"})
        assert claimed.status_code == 200 and claimed.json()["messages"] == [], claimed.text
        acked = http.post(f"/v1/outbound/{channel}/ack", json={"ids": ["1-0"]})
        assert acked.status_code == 200 and acked.json()["acked"] == 0, acked.text
    client = redis.Redis.from_url(service.settings.redis_url)
    try:
        assert list(client.scan_iter(match=f"{service.settings.key_prefix}:*made-up*")) == []
        assert list(client.scan_iter(match=f"{service.settings.key_prefix}:*{{q:email}}*")) == []
    finally:
        client.close()
    _outbound_setup(service)
    _event(service, type="life_event", name="marriage", id="ev-1")
    claimed = http.post("/v1/outbound/email/claim", json={"consumer": "mailer-1"}).json()
    assert [m["offer_id"] for m in claimed["messages"]] == ["wedding_bundle"]


def test_a_customers_features_include_the_real_time_aggregates(service: Service) -> None:
    """GET returns the features including the real-time aggregates (the contract): the
    features a decision sees, profile and aggregates as one map (an aggregate wins over a
    profile field of the same name, as in decisions); ``aggregates`` still lists them apart."""
    http = service.client
    body = {"features": {"segment": "family", "last_channel": "shop"}}
    assert http.put("/v1/customers/C1", json=body).status_code == 200
    _event(service, type="purchase", id="o-1", properties={"value": 49.5, "channel": "web"})
    customer = http.get("/v1/customers/C1").json()
    features = customer["features"]
    assert features["segment"] == "family"
    assert features["purchase_count_24h"] == 1 and features["purchase_sum_24h"] == 49.5
    assert features["last_channel"] == "web"
    assert features["complaint_count_30d"] == 0
    assert customer["aggregates"]["purchase_count_24h"] == 1
    assert {k: features[k] for k in customer["aggregates"]} == customer["aggregates"]
