"""Session-wide real services; a fresh, isolated nbo service per test that asks for one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from feature_store import start_bundled_redis

from .services import Service, isolated_database, run_service


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("NBO_TEST_REDIS_URL")
    if url:
        yield url
        return
    server = start_bundled_redis(tmp_path_factory.mktemp("redis"), persist=False)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    with isolated_database(tmp_path) as url:
        yield url


@pytest.fixture
def service(redis_url: str, database_url: str, tmp_path: Path) -> Iterator[Service]:
    with run_service(redis_url, database_url, tmp_path / "data", seed=1) as svc:
        yield svc


@pytest.fixture
def greedy_service(redis_url: str, database_url: str, tmp_path: Path) -> Iterator[Service]:
    """A service with no control group and no exploration floor: arbitration shows plainly."""
    with run_service(
        redis_url,
        database_url,
        tmp_path / "data",
        seed=1,
        control_share=0.0,
        exploration_floor=0.0,
    ) as svc:
        yield svc
