"""The SQL archive of customer history and interactions, through HTTP, real Redis and real SQL.

History outlives the Redis list (500 lines, TTLs, eviction); a line delivered twice to the
archiver is stored once; a crash between insert and acknowledgement loses nothing; erasure
removes the archived rows, also of lines still on their way.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis

from feature_store.customers import HISTORY_TTL_S
from tests.factories import make_customer, make_offer
from tests.services import Service, process_env, run_service, start_nbo

T = TypeVar("T")


def _on_server(service: Service, coro: Coroutine[Any, Any, T]) -> T:
    loop = service.runtime._tasks[0].get_loop()
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)


@pytest.fixture
def quiet_service(redis_url: str, database_url: str, tmp_path: Path) -> Iterator[Service]:
    """No learner (and so no archiver) in the process: the tests drive the archiver."""
    with run_service(
        redis_url, database_url, tmp_path / "data", seed=1, embedded_learner=False
    ) as svc:
        yield svc


def _post_events(service: Service, customer_id: str, n: int, first: int = 0) -> None:
    events = [
        {"customer_id": customer_id, "type": "purchase", "id": f"e{i}", "properties": {"i": i}}
        for i in range(first, first + n)
    ]
    for start in range(0, n, 200):
        response = service.client.post(
            "/v1/events/bulk", json={"events": events[start : start + 200]}
        )
        assert response.status_code == 202, response.text


def _history(service: Service, customer_id: str, offset: int, limit: int) -> list[Any]:
    response = service.client.get(
        f"/v1/customers/{customer_id}/history", params={"offset": offset, "limit": limit}
    )
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


def _all_history(service: Service, customer_id: str, page: int = 97) -> list[Any]:
    out: list[Any] = []
    while True:
        items = _history(service, customer_id, len(out), page)
        out.extend(items)
        if len(items) < page:
            return out


def _event_indices(items: list[Any]) -> list[int]:
    return [item["properties"]["i"] for item in items if item["type"] == "event"]


def test_history_beyond_the_redis_list_comes_from_the_archive(quiet_service: Service) -> None:
    svc = quiet_service
    _post_events(svc, "C1", 650)
    archiver = svc.runtime.new_archiver()
    assert _on_server(svc, archiver.drain()) == 650
    # 30 more lines the archiver has not seen yet: the newest come from Redis alone
    _post_events(svc, "C1", 30, first=650)

    items = _all_history(svc, "C1")
    assert _event_indices(items) == list(range(679, -1, -1))  # all 680, newest first, once each

    # Redis forgets the list (TTL, eviction, a flushed cache): the archive still answers
    _on_server(svc, archiver.drain())
    client = redis.Redis.from_url(svc.settings.redis_url)
    client.delete(svc.runtime.store.keys.history("C1"))
    client.close()
    assert _event_indices(_all_history(svc, "C1")) == list(range(679, -1, -1))


def test_every_history_write_gives_the_redis_list_a_lifetime(quiet_service: Service) -> None:
    """A visitor decided for once (a cookie id) must not hold Redis memory for good: each write
    of a history line (decision, outcome, event) sets the list's TTL; the archive keeps all."""
    svc = quiet_service
    assert svc.client.put("/v1/offers/fibre", json=make_offer(channels=["web"])).is_success
    client = redis.Redis.from_url(svc.settings.redis_url)
    key = svc.runtime.store.keys.history("visitor-7f3a")
    try:
        decision = svc.client.post(
            "/v1/decisions", json={"customer_id": "visitor-7f3a", "channel": "web"}
        ).json()
        assert 0 < client.ttl(key) <= HISTORY_TTL_S
        client.persist(key)
        outcome = {"offer_id": decision["offers"][0]["offer_id"], "outcome": "declined"}
        url = f"/v1/decisions/{decision['decision_id']}/outcomes"
        assert svc.client.post(url, json=outcome).status_code == 202
        assert 0 < client.ttl(key) <= HISTORY_TTL_S
        client.persist(key)
        _post_events(svc, "visitor-7f3a", 1)
        assert 0 < client.ttl(key) <= HISTORY_TTL_S
        assert [i["type"] for i in _history(svc, "visitor-7f3a", 0, 10)] == [
            "event",
            "outcome",
            "decision",
        ]
    finally:
        client.close()


def test_decisions_outcomes_and_late_responses_reach_the_interaction_archive(
    quiet_service: Service,
) -> None:
    svc = quiet_service
    assert svc.client.put("/v1/offers/A", json=make_offer(outcome_window_s=1)).status_code in (
        200,
        201,
    )
    svc.client.put("/v1/customers/C2", json=make_customer(segment="gold"))
    decided = svc.client.post(
        "/v1/decisions", json={"customer_id": "C2", "channel": "web", "interaction": "visit"}
    ).json()
    assert decided["offers"][0]["offer_id"] == "A"
    # the window passes, the default is learned; the real answer comes late
    time.sleep(1.2)
    _on_server(svc, svc.runtime.store.decisions.close_due_windows(int(time.time() * 1000)))
    late = svc.client.post(
        f"/v1/decisions/{decided['decision_id']}/outcomes",
        json={"offer_id": "A", "outcome": "accepted"},
    )
    assert late.status_code == 202 and late.json()["status"] == "late"

    archiver = svc.runtime.new_archiver()
    _on_server(svc, archiver.drain())
    rows = svc.runtime.archive.interactions_for("C2")
    assert [(r["outcome"], r["source"], r["learned"]) for r in rows] == [
        ("ignored", "window", True),
        ("accepted", "late", False),
    ]
    assert rows[0]["decision_id"] == decided["decision_id"]
    assert rows[0]["channel"] == "web" and rows[0]["context"]["segment"] == "gold"
    assert rows[0]["probability"] == pytest.approx(decided["offers"][0]["probability"])
    kinds = [item["type"] for item in _all_history(svc, "C2")]
    assert kinds == ["outcome", "decision"]


def test_an_entry_delivered_twice_is_archived_once(quiet_service: Service) -> None:
    svc = quiet_service
    _post_events(svc, "C3", 40)
    crashed = svc.runtime.new_archiver("archiver-0")
    # the archiver inserts, then dies before it acknowledges
    lines = _on_server(svc, crashed.reader.read_history(100))
    assert len(lines) == 40
    svc.runtime.archive.store_history(lines)
    # restarted under the same name, it gets the same entries again and stores none twice
    restarted = svc.runtime.new_archiver("archiver-0")
    assert _on_server(svc, restarted.drain()) == 40
    assert svc.runtime.archive.archived_count("C3") == (40, 0)
    assert _on_server(svc, restarted.reader.history.pending_count()) == 0


def test_the_running_archiver_reads_on_after_a_full_batch_and_waits_after_a_partial_one(
    quiet_service: Service,
) -> None:
    """A trickle is archived in a few batches, not a line or two per SQL transaction (the CPU
    that cost the learner process); a backlog is archived batch after batch at once."""
    svc = quiet_service
    _post_events(svc, "C6", 25)
    archiver = svc.runtime.new_archiver("archiver-linger")
    archiver.batch = 10
    stop = asyncio.Event()
    loop = svc.runtime._tasks[0].get_loop()
    running = asyncio.run_coroutine_threadsafe(archiver.run(stop, idle_s=1.0), loop)
    try:
        # the backlog: two full batches and the partial third, one after the other
        deadline = time.monotonic() + 0.9
        while svc.runtime.archive.archived_count("C6") != (25, 0):
            assert time.monotonic() < deadline, svc.runtime.archive.archived_count("C6")
            time.sleep(0.02)
        assert archiver.transactions == 3
        archiver.batch = 10_000  # larger than the stream below: none of its batches is full
        # a steady stream of single lines for 2 s, each posted as soon as the last was taken
        posted, first = 0, 25
        until = time.monotonic() + 2.0
        while time.monotonic() < until:
            _post_events(svc, "C6", 1, first=first + posted)
            posted += 1
        total = 25 + posted
        deadline = time.monotonic() + 5
        while svc.runtime.archive.archived_count("C6") != (total, 0):
            assert time.monotonic() < deadline, svc.runtime.archive.archived_count("C6")
            time.sleep(0.05)
        # about one transaction per second of stream (reading on at once: one per few lines)
        assert posted > 50
        assert 3 < archiver.transactions <= 3 + 5, (archiver.transactions, posted)
    finally:
        loop.call_soon_threadsafe(stop.set)
        running.result(timeout=30)


def test_erase_removes_archived_rows_and_lines_still_on_their_way(quiet_service: Service) -> None:
    svc = quiet_service
    _post_events(svc, "C4", 20)
    _post_events(svc, "C5", 5)
    archiver = svc.runtime.new_archiver()
    _on_server(svc, archiver.drain())
    _post_events(svc, "C4", 10, first=20)  # not archived yet when the customer is erased
    assert svc.client.delete("/v1/customers/C4").status_code == 204
    assert svc.runtime.archive.archived_count("C4") == (0, 0)
    _on_server(svc, archiver.drain())
    assert svc.runtime.archive.archived_count("C4") == (0, 0)
    assert _all_history(svc, "C4") == []
    assert svc.runtime.archive.archived_count("C5") == (5, 0)  # nobody else is touched
    # a customer who comes back after the erasure is archived again
    time.sleep(0.01)
    _post_events(svc, "C4", 3, first=100)
    _on_server(svc, archiver.drain())
    assert svc.runtime.archive.archived_count("C4") == (3, 0)


def test_the_outcome_stream_is_trimmed_only_below_what_both_groups_have(
    quiet_service: Service,
) -> None:
    """The learners and the archivers read one stream: neither group's trim loses the other's."""
    svc = quiet_service
    svc.client.put("/v1/offers/A", json=make_offer())
    n = 250  # more than one stream node (100 entries): an approximate trim would drop some
    for i in range(n):
        d = svc.client.post(
            "/v1/decisions",
            json={"customer_id": f"K{i}", "channel": "web", "interaction": "visit"},
        ).json()
        svc.client.post(
            f"/v1/decisions/{d['decision_id']}/outcomes",
            json={"offer_id": "A", "outcome": "accepted" if i % 3 == 0 else "declined"},
        )
    learner = svc.runtime.new_learner()

    async def learn_all() -> None:
        await learner.restore()
        await learner.run(asyncio.Event(), max_items=n)
        await learner.close()

    _on_server(svc, learn_all())  # learned, acknowledged and trimmed by the learners' group
    archiver = svc.runtime.new_archiver()
    # every interaction, and two history lines each (the decision and the outcome)
    assert _on_server(svc, archiver.drain()) == n + 2 * n
    assert svc.runtime.archive.archived_count() == (2 * n, n)
    # now both groups have everything: the stream is trimmed (whole nodes, approximately)
    stream_length = _on_server(svc, svc.runtime.store.outcome_stream().lag())
    assert stream_length < n


def test_extra_archivers_run_as_their_own_processes(quiet_service: Service, tmp_path: Path) -> None:
    """``nbo archiver --consumer NAME`` processes share the archive's consumer group."""
    svc = quiet_service
    _post_events(svc, "C6", 300)
    env = process_env(svc, tmp_path / "data")
    log = tmp_path / "archivers.log"
    workers = [start_nbo(env, log, "archiver", "--consumer", f"a{n}") for n in range(2)]
    try:
        deadline = time.monotonic() + 60
        while svc.runtime.archive.archived_count("C6") != (300, 0):
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.2)
        assert _event_indices(_all_history(svc, "C6")) == list(range(299, -1, -1))
        while log.read_text().count("running") < 2:  # both up (signal handlers installed)
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            assert worker.wait(timeout=30) == 0, log.read_text()[-2000:]
