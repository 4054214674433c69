"""The garbage collector of a serving process (app/collector.py): the startup heap frozen out of
every collection, young collections rarer. (Their effect, full collections of 40-120 ms gone from
a worker under load, is measured by bench/worker_cpu.py --gc, not here.)"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.collector import settle_heap, tune_collector
from tests.services import run_service


@pytest.fixture
def python_collector() -> Iterator[None]:
    """Whatever a test does to this process's collector is undone."""
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


@pytest.mark.usefixtures("python_collector")
def test_tune_collector_sets_the_young_threshold_and_zero_keeps_it() -> None:
    before = gc.get_threshold()
    _, middle, old = before
    tune_collector(0)
    assert gc.get_threshold() == before
    tune_collector(25_000)
    assert gc.get_threshold() == (25_000, middle, old)


@pytest.mark.usefixtures("python_collector")
def test_settle_heap_freezes_what_survives_a_collection() -> None:
    survivor = [{"kept": n} for n in range(1000)]
    frozen = settle_heap()
    assert frozen == gc.get_freeze_count() >= 1000
    assert not any(obj is survivor for obj in gc.get_objects())  # no longer walked
    gc.unfreeze()
    assert any(obj is survivor for obj in gc.get_objects())


@pytest.mark.usefixtures("python_collector")
def test_the_served_app_freezes_its_startup_heap_and_sets_the_young_threshold(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    gc.unfreeze()
    with run_service(
        redis_url, database_url, tmp_path / "data", gc_freeze=True, gc_young=30_000
    ) as service:
        # the app's modules, routes and runtime: tens of thousands of objects, walked no more
        assert gc.get_freeze_count() > 20_000
        assert gc.get_threshold()[0] == 30_000
        answer = service.client.post("/v1/decisions", json={"customer_id": "G1", "channel": "web"})
        assert answer.status_code == 200, answer.text
