"""Every /v1 call needs a key; roles decide what it may do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from app.auth import CACHE_LIMIT, KeyRing
from decisioning import make_engine, migrate
from tests.factories import make_offer
from tests.services import Service, isolated_database


def test_missing_or_wrong_key_is_401(service: Service) -> None:
    bare = httpx.Client(base_url=service.url)
    assert bare.get("/v1/offers").status_code == 401
    assert bare.get("/v1/offers", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert bare.post("/v1/decisions", json={}).status_code == 401
    assert bare.get("/healthz").status_code == 200


def test_probes_answer_head_as_well_as_get(service: Service) -> None:
    """Load balancers and uptime checkers often probe with HEAD: it was 405 Method Not Allowed,
    which reads as down."""
    bare = httpx.Client(base_url=service.url)
    for path in ("/healthz", "/readyz"):
        assert bare.head(path).status_code == 200, path
        assert bare.get(path).status_code == 200, path


def test_roles(service: Service) -> None:
    channel = {"Authorization": f"Bearer {service.key_for('channel')}"}
    marketer = {"Authorization": f"Bearer {service.key_for('marketer')}"}
    http = httpx.Client(base_url=service.url)
    assert http.put("/v1/offers/o1", json=make_offer(), headers=channel).status_code == 403
    assert http.put("/v1/offers/o1", json=make_offer(), headers=marketer).status_code == 201
    decision = {"customer_id": "C1", "channel": "web"}
    assert http.post("/v1/decisions", json=decision, headers=channel).status_code == 200
    assert http.post("/v1/decisions", json=decision, headers=marketer).status_code == 403
    assert http.get("/v1/metrics/learning", headers=channel).status_code == 403


def test_cli_creates_keys_that_work(service: Service) -> None:
    settings = service.settings
    env = {
        "DATABASE_URL": settings.database_url or "",
        "NBO_DATA_DIR": str(settings.data_dir),
        "NBO_ADMIN_KEY": service.admin_key,
        "PATH": "",
    }
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "keys", "create", "--role", "analyst"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = out.stdout.strip()
    assert key.startswith("nbo_analyst_")
    response = httpx.get(
        f"{service.url}/v1/metrics/learning", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200
    bad = subprocess.run(
        [sys.executable, "-m", "app.cli", "keys", "create", "--role", "root"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "role must be one of" in bad.stderr


def test_a_flood_of_wrong_keys_does_not_push_out_the_keys_in_use(tmp_path: Path) -> None:
    """Every wrong key is a cached refusal; when the cache makes room, the refusals go first,
    so a key in use is still answered without SQL."""
    with isolated_database(tmp_path) as database_url:
        engine = make_engine(database_url)
        migrate(engine)
        ring = KeyRing(engine, "nbo_admin_flood_test_key", ttl_s=600.0)
        _, key = ring.create("channel")
        assert ring.identify(key) is not None
        for n in range(CACHE_LIMIT + 50):
            assert ring.identify(f"nbo_wrong_{n}") is None
        known, identity = ring.identify_from_cache(key)
        assert known and identity is not None and identity.role == "channel"
        engine.dispose()
