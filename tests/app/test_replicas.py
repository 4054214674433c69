"""Three ``nbo serve --no-learner`` replicas and one ``nbo learner``, all real processes.

This is the scale-out shape of docker-compose.yml and deploy/k8s: stateless API replicas behind a
load balancer, one learner, one Redis (one key prefix) and one database. Nothing tells a replica
that something changed; each polls Redis every ``min(NBO_SNAPSHOT_REFRESH_S,
NBO_CATALOGUE_REFRESH_S)`` seconds for the catalogue version and the serving model version, and
reloads when either moved. So a change made through one replica reaches every other one within
that interval plus a reload. The test proves it with a stated bound, for a catalogue edit and for a
model snapshot that the learner publishes after outcomes posted to different replicas.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from feature_store import Keys
from feature_store.server import free_port
from models import Snapshot
from tests.factories import make_customer, make_offer
from tests.services import drop_prefix

REFRESH_S = 0.25
"""``NBO_SNAPSHOT_REFRESH_S`` and ``NBO_CATALOGUE_REFRESH_S`` of every replica."""
CHECKPOINT_S = 0.25
"""``NBO_LEARNER_CHECKPOINT_S``: how often the learner publishes a snapshot while it learns."""
PICKUP_BOUND_S = 2.0
"""The stated bound: a change is served by every replica within this long after it is visible
in Redis (one refresh interval plus a reload from SQL or Redis, with slack for two busy cores)."""

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Replica:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    client: httpx.Client

    def decide(self, customer_id: str, channel: str) -> dict[str, Any]:
        response = self.client.post(
            "/v1/decisions", json={"customer_id": customer_id, "channel": channel}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            env=env,
            cwd=log.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to all at once, as Docker and Kubernetes send it; SIGKILL whatever outlives 30 s."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def _wait_ready(replica: Replica, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if replica.process.poll() is not None:
            raise AssertionError(f"{replica.name} exited:\n{_tail(replica.log)}")
        try:
            if replica.client.get("/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{replica.name} not ready in {timeout_s}s:\n{_tail(replica.log)}")


def _serves(replica: Replica, channel: str, offer_ids: list[str]) -> bool:
    return [o["offer_id"] for o in replica.decide("C0", channel)["offers"]] == offer_ids


def _serves_any(replica: Replica, channel: str) -> bool:
    return bool(replica.decide("C0", channel)["offers"])


def _serves_model(replica: Replica, version: int) -> bool:
    return int(replica.decide("C1", "web")["model_version"]) >= version


def _until(check: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll ``check`` until it holds; returns the seconds it took (fails past ``timeout_s``)."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"{what}: not within {timeout_s}s")
        time.sleep(0.02)
    return time.monotonic() - start


@dataclass
class Deployment:
    replicas: list[Replica]
    keys: Keys
    """The Redis keys of the deployment's prefix, to see what the learner published."""


@contextmanager
def _deployment(redis_url: str, database_url: str, tmp_path: Path) -> Iterator[Deployment]:
    """Three API replicas and one learner, configured as a user would: through the environment."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    admin_key = f"admin-{uuid.uuid4().hex}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NBO_")},
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "NBO_ADMIN_KEY": admin_key,
        "NBO_KEY_PREFIX": prefix,
        "NBO_SNAPSHOT_REFRESH_S": str(REFRESH_S),
        "NBO_CATALOGUE_REFRESH_S": str(REFRESH_S),
        "NBO_LEARNER_CHECKPOINT_S": str(CHECKPOINT_S),
        "NBO_SEED": "7",
    }
    with ExitStack() as stack:
        stack.callback(drop_prefix, redis_url, prefix)
        processes: list[subprocess.Popen[bytes]] = []
        stack.callback(_stop_all, processes)
        replicas: list[Replica] = []
        for n in range(1, 4):
            home = tmp_path / f"api{n}"
            home.mkdir()
            port = free_port()
            # each replica has its own data folder, as separate containers would
            replica_env = {**env, "NBO_DATA_DIR": str(home / ".nbo")}
            log = home / "serve.log"
            process = _spawn(
                ["serve", "--no-learner", "--port", str(port), "--log-level", "warning"],
                replica_env,
                log,
            )
            processes.append(process)
            client = httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {admin_key}"},
                timeout=30,
            )
            stack.callback(client.close)
            replicas.append(Replica(f"api{n}", str(client.base_url), process, log, client))
            if n == 1:
                # the first one migrates the fresh database alone: concurrent first-start
                # migrations collide on PostgreSQL (decisioning.database.migrate takes no lock);
                # docker-compose.yml runs a one-shot migrate service for the same reason
                _wait_ready(replicas[0])
        learner_home = tmp_path / "learner"
        learner_home.mkdir()
        learner_log = learner_home / "learner.log"
        learner = _spawn(
            ["learner"], {**env, "NBO_DATA_DIR": str(learner_home / ".nbo")}, learner_log
        )
        processes.append(learner)
        for replica in replicas:
            _wait_ready(replica)
        try:
            yield Deployment(replicas, Keys(prefix=prefix))
        except BaseException:
            for replica in replicas:
                print(f"--- {replica.name}\n{_tail(replica.log)}")  # noqa: T201
            print(f"--- learner\n{_tail(learner_log)}")  # noqa: T201
            raise
        assert learner.poll() is None, f"the learner died:\n{_tail(learner_log)}"
        for replica in replicas:
            assert replica.process.poll() is None, f"{replica.name} died"


def test_three_replicas_pick_up_catalogue_and_model_changes(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    with _deployment(redis_url, database_url, tmp_path) as deployment:
        replicas = deployment.replicas
        first, others = replicas[0], replicas[1:]
        for n in range(20):
            response = first.client.put(f"/v1/customers/C{n}", json=make_customer())
            assert response.status_code in (200, 201), response.text

        # (a) a new offer, on a channel nothing else serves, saved through replica 1 ...
        for replica in replicas:
            assert replica.decide("C0", "kiosk")["offers"] == []
        response = first.client.put("/v1/offers/kiosk_deal", json=make_offer(channels=["kiosk"]))
        assert response.status_code == 201, response.text
        # ... is served by replicas 2 and 3 within the bound
        pickups: dict[str, float] = {}
        for replica in others:
            pickups[f"add {replica.name}"] = _until(
                lambda r=replica: (
                    [o["offer_id"] for o in r.decide("C0", "kiosk")["offers"]] == ["kiosk_deal"]
                ),
                PICKUP_BOUND_S,
                f"{replica.name} serving the new offer",
            )
        # and so is its withdrawal
        response = first.client.put(
            "/v1/offers/kiosk_deal", json=make_offer(channels=["kiosk"], active=False)
        )
        assert response.status_code == 200, response.text
        for replica in others:
            pickups[f"withdraw {replica.name}"] = _until(
                partial(_serves, replica, "kiosk", []),
                PICKUP_BOUND_S,
                f"{replica.name} dropping the withdrawn offer",
            )

        # (b) outcomes posted to all three replicas, learned by the one learner ...
        for n in range(3):
            first.client.put(f"/v1/offers/o{n}", json=make_offer(channels=["web"]))
        for replica in others:  # wait until every replica serves the web offers
            _until(
                partial(_serves_any, replica, "web"),
                PICKUP_BOUND_S,
                f"{replica.name} serving the web offers",
            )
        versions_before = {r.name: r.decide("C1", "web")["model_version"] for r in replicas}
        total = 60
        for n in range(total):
            replica = replicas[n % 3]
            decision = replica.decide(f"C{n % 20}", "web")
            response = replica.client.post(
                f"/v1/decisions/{decision['decision_id']}/outcomes",
                json={
                    "offer_id": decision["offers"][0]["offer_id"],
                    "outcome": "accepted" if n % 4 == 0 else "declined",
                },
            )
            assert response.status_code == 202, response.text

        # ... publish a snapshot that has them all; the test sees it land in Redis ...
        store = redis.Redis.from_url(redis_url)
        published = 0

        def published_all() -> bool:
            nonlocal published
            raw: bytes | None = store.get(deployment.keys.snapshot_latest)
            data: bytes | None = None
            if raw is not None:
                data = store.get(deployment.keys.snapshot(int(raw)))
            if data is None or Snapshot.from_bytes(data).n_learned < total:
                return False
            published = int(raw or 0)
            return True

        try:
            _until(published_all, 60, "the learner publishing a snapshot of every outcome")
        finally:
            store.close()
        seen_at = time.monotonic()
        assert published > max(versions_before.values())
        # ... and from then on every replica decides with it within the bound
        for replica in replicas:
            _until(
                partial(_serves_model, replica, published),
                PICKUP_BOUND_S,
                f"{replica.name} serving model version {published}",
            )
            pickups[f"model {replica.name}"] = time.monotonic() - seen_at
        assert all(r.client.get("/readyz").json()["model_version"] >= published for r in replicas)
        print(  # noqa: T201 - the measured pickup times, quoted in the README
            "pickup s: " + ", ".join(f"{k} {v:.2f}" for k, v in pickups.items())
        )


pytestmark = pytest.mark.timeout(400)
