"""Real services for the tests: Redis and SQL, from the environment or started here.

``NBO_TEST_REDIS_URL`` / ``NBO_TEST_DATABASE_URL`` name the machine's services (CI sets them);
without them the bundled redis-server and a SQLite file are used. Each test gets its own Redis key
prefix and its own SQL schema (or SQLite file), so leftover state never decides a result.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import redis
import uvicorn
from sqlalchemy import create_engine, text

from app.main import create_app
from app.settings import Settings
from decisioning.database import normalise_url


@contextmanager
def isolated_database(tmp_path: Path) -> Iterator[str]:
    """A database URL no other test uses: a fresh PostgreSQL schema or a fresh SQLite file."""
    base = os.environ.get("NBO_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'nbo.db'}"
        return
    schema = f"nbo_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(base))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def drop_prefix(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        batch = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(batch), 500):
            client.delete(*batch[start : start + 500])
    finally:
        client.close()


T = TypeVar("T")


def on_redis(redis_url: str, body: Callable[[Any, str], Awaitable[T]]) -> T:
    """Runs ``body(client, prefix)`` on a fresh client of ``redis_url`` and a key prefix of its
    own, then drops every key under that prefix."""
    from feature_store import connect

    prefix = f"t{uuid.uuid4().hex[:10]}"

    async def run() -> T:
        client = connect(redis_url)
        try:
            return await body(client, prefix)
        finally:
            await client.aclose()

    try:
        return asyncio.run(run())
    finally:
        drop_prefix(redis_url, prefix)


@dataclass
class Service:
    """A running nbo API (real uvicorn, real Redis, real SQL) and an admin HTTP client."""

    url: str
    admin_key: str
    settings: Settings
    app: Any
    client: httpx.Client

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    def key_for(self, role: str) -> str:
        _, key = self.runtime.keyring.create(role)
        return str(key)

    def wait_learned(self, n: int, timeout_s: float = 60.0) -> dict[str, Any]:
        """Poll the learning metrics until ``n`` outcomes are in the served model."""
        deadline = time.monotonic() + timeout_s
        metrics: dict[str, Any] = {}
        while time.monotonic() < deadline:
            metrics = self.client.get("/v1/metrics/learning").json()
            if metrics["outcomes_learned"] >= n:
                return metrics
            time.sleep(0.2)
        raise AssertionError(f"learned {metrics.get('outcomes_learned')} of {n} in {timeout_s}s")


class _ThreadedServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test runner owns signals
        pass


@contextmanager
def run_service(
    redis_url: str,
    database_url: str,
    data_dir: Path,
    *,
    log_level: str = "warning",
    **overrides: Any,
) -> Iterator[Service]:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    admin_key = f"admin-{uuid.uuid4().hex}"
    # the collector of the test process stays Python's (app/collector.py sets a server's)
    overrides = {"gc_freeze": False, "gc_young": 0} | overrides
    settings = Settings(
        redis_url=redis_url,
        database_url=database_url,
        data_dir=data_dir,
        admin_key=admin_key,
        key_prefix=prefix,
        **overrides,
    )
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level=log_level, lifespan="on")
    server = _ThreadedServer(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the nbo test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=30
    )
    try:
        yield Service(url=url, admin_key=admin_key, settings=settings, app=app, client=client)
    finally:
        client.close()
        server.should_exit = True
        thread.join(timeout=30)
        if not settings.redis_cluster:  # a test cluster lives for the session only
            drop_prefix(redis_url, prefix)


def process_env(service: Service, data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment for an ``nbo`` subprocess that joins ``service``'s Redis, database and
    key prefix (``settings``: more ``NBO_*`` variables)."""
    return {
        **os.environ,
        "REDIS_URL": service.settings.redis_url or "",
        "DATABASE_URL": service.settings.database_url or "",
        "NBO_DATA_DIR": str(data_dir),
        "NBO_ADMIN_KEY": service.admin_key,
        "NBO_KEY_PREFIX": service.settings.key_prefix,
        **settings,
    }


def start_nbo(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    """``nbo <args>`` as a real process, its output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args], env=env, stdout=out, stderr=out
        )
