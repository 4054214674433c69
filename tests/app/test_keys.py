"""Key management through the real CLI and over HTTP: list shows no secret, revoke takes effect
within NBO_AUTH_CACHE_S on a running service (and ends the key's page sessions)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from app.auth import hash_key
from tests.services import Service, run_service

CACHE_S = 0.5


@pytest.fixture
def keyed_service(redis_url: str, database_url: str, tmp_path: Path) -> Iterator[Service]:
    with run_service(redis_url, database_url, tmp_path / "data", auth_cache_s=CACHE_S) as svc:
        yield svc


def nbo_all(service: Service, *commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run ``nbo`` commands side by side (each one starts a Python process: seconds)."""
    env = {
        "DATABASE_URL": service.settings.database_url or "",
        "NBO_DATA_DIR": str(service.settings.data_dir),
        "NBO_ADMIN_KEY": service.admin_key,
        "NBO_AUTH_CACHE_S": str(CACHE_S),
        "PATH": "",
    }
    running = [
        subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in commands
    ]
    results = []
    for process in running:
        out, err = process.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return results


def nbo(service: Service, *args: str) -> subprocess.CompletedProcess[str]:
    return nbo_all(service, list(args))[0]


def refused_within(url: str, headers: dict[str, str], bound_s: float) -> bool:
    """Poll until ``url`` answers 401; True if that happened within ``bound_s``."""
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        if httpx.get(url, headers=headers).status_code == 401:
            return True
        time.sleep(0.05)
    return False


def test_cli_lists_and_revokes_keys(keyed_service: Service) -> None:
    created = nbo(keyed_service, "keys", "create", "--role", "analyst")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    key_id = created.stderr.split("key id ", 1)[1].split(",")[0]
    other = keyed_service.key_for("channel")
    headers = {"Authorization": f"Bearer {key}"}
    url = f"{keyed_service.url}/v1/metrics/learning"
    assert httpx.get(url, headers=headers).status_code == 200

    listing = nbo(keyed_service, "keys", "list")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["KEY", "ID", "ROLE", "CREATED", "REVOKED"]
    row = next(line.split() for line in lines if line.startswith(key_id))
    assert row[1] == "analyst" and row[3] == "no"
    for secret in (key, hash_key(key), other, hash_key(other)):
        assert secret not in listing.stdout + listing.stderr

    revoked = nbo(keyed_service, "keys", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    # the service learns of it from SQL within its cache TTL
    assert refused_within(url, headers, CACHE_S + 2.0)
    as_json, active, unknown, admin = nbo_all(
        keyed_service,
        ["keys", "list", "--json"],
        ["keys", "list", "--active"],
        ["keys", "revoke", "nope"],
        ["keys", "revoke", "admin"],
    )
    rows = json.loads(as_json.stdout)
    assert {r["key_id"]: r["revoked"] for r in rows}[key_id] is True
    assert all(set(r) == {"key_id", "role", "created_at", "revoked"} for r in rows)
    assert key_id not in active.stdout and active.returncode == 0
    # the other key is untouched
    assert httpx.get(
        f"{keyed_service.url}/v1/customers/C1", headers={"Authorization": f"Bearer {other}"}
    ).status_code in (200, 404)
    assert unknown.returncode == 2 and "does not exist" in unknown.stderr
    assert admin.returncode == 2 and "NBO_ADMIN_KEY" in admin.stderr


def test_keys_over_http_for_admins_only(keyed_service: Service) -> None:
    http = keyed_service.client
    made = http.post("/v1/keys", json={"role": "channel"})
    assert made.status_code == 201, made.text
    key, key_id = made.json()["key"], made.json()["key_id"]
    assert key.startswith("nbo_channel_") and made.json()["revoked"] is False

    listed = http.get("/v1/keys")
    assert listed.status_code == 200
    assert key not in listed.text and hash_key(key) not in listed.text
    assert {"key_id": key_id, "role": "channel", "revoked": False}.items() <= next(
        k for k in listed.json() if k["key_id"] == key_id
    ).items()

    as_channel = httpx.Client(
        base_url=keyed_service.url, headers={"Authorization": f"Bearer {key}"}
    )
    assert as_channel.get("/v1/keys").status_code == 403
    assert as_channel.post("/v1/keys", json={"role": "admin"}).status_code == 403
    assert as_channel.delete(f"/v1/keys/{key_id}").status_code == 403
    bad_role = http.post("/v1/keys", json={"role": "root"})
    assert bad_role.status_code == 422 and bad_role.json()["field"] == "role"
    assert http.delete("/v1/keys/nope").status_code == 404
    assert http.delete("/v1/keys/admin").json()["field"] == "key_id"

    decision = {"customer_id": "C1", "channel": "web"}
    assert as_channel.post("/v1/decisions", json=decision).status_code == 200
    gone = http.delete(f"/v1/keys/{key_id}")
    assert gone.status_code == 200 and gone.json()["revoked"] is True
    # revoked through this process: refused at once, no cache to wait for
    assert as_channel.post("/v1/decisions", json=decision).status_code == 401
    assert http.delete(f"/v1/keys/{key_id}").status_code == 200  # idempotent


def _lookups(service: Service) -> list[str]:
    """Every SQL statement on the API key table from now on, as the database is sent them."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "api_keys" in statement:
            seen.append(statement)

    event.listen(service.runtime.keyring._engine, "before_cursor_execute", record)
    return seen


def test_a_key_in_steady_use_is_looked_up_ahead_of_expiry_never_by_a_waiting_request(
    keyed_service: Service,
) -> None:
    service = keyed_service
    key = service.key_for("channel")
    keyring = service.runtime.keyring
    auth = {"Authorization": f"Bearer {key}"}
    body = {"customer_id": "K1", "channel": "web"}
    assert httpx.post(f"{service.url}/v1/decisions", json=body, headers=auth).status_code == 200
    lookups = _lookups(service)
    # decisions for three cache lifetimes, every 20 ms: each found a fresh answer in the cache
    # (none waited on SQL), and the answer was looked up again once per half-lifetime or so
    waited = 0
    original = keyring.identify

    def identify(presented: str) -> Any:
        nonlocal waited
        waited += 1
        return original(presented)

    keyring.identify = identify  # type: ignore[method-assign]
    deadline = time.monotonic() + 3 * CACHE_S
    answers = 0
    with httpx.Client(base_url=service.url, headers=auth) as client:
        while time.monotonic() < deadline:
            answer = client.post("/v1/decisions", json=body)
            assert answer.status_code == 200, answer.text
            answers += 1
            time.sleep(0.02)
    assert answers > 20
    assert waited == 0
    assert 3 <= len(lookups) <= 7, lookups


def test_a_refresh_ahead_sees_a_revocation_and_single_flights(keyed_service: Service) -> None:
    service = keyed_service
    key_id, key = service.runtime.keyring.create("channel")
    keyring = service.runtime.keyring
    assert keyring.identify(key) is not None
    assert not keyring.claim_refresh(key)  # fresh: nothing to do
    time.sleep(CACHE_S / 2)
    assert keyring.claim_refresh(key)
    assert not keyring.claim_refresh(key)  # one refresh at a time
    nbo(service, "keys", "revoke", key_id)  # another process revokes it
    keyring.refresh(key)
    assert keyring.identify_from_cache(key) == (True, None)
    assert not keyring.claim_refresh(key)  # just refreshed
