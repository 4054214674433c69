"""Two real ``nbo learner`` processes: one learns, one stands by and takes over when the active
one is SIGKILLed mid-stream; every outcome is still learned exactly once."""

from __future__ import annotations

import pickle
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import redis

from feature_store import Keys
from tests.factories import make_offer
from tests.services import process_env, run_service, start_nbo


def _start_learner(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return start_nbo(env, log, "learner")


def _holder_pid(client: redis.Redis, keys: Keys, timeout_s: float = 30) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        raw = client.get(keys.learner_lease)
        if raw:
            return int(raw.decode().split("-")[-2])
        time.sleep(0.05)
    raise AssertionError("no learner took the lease")


def test_a_standby_learner_takes_over_and_nothing_is_learned_twice(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    with run_service(
        redis_url, database_url, tmp_path / "data", embedded_learner=False, seed=3
    ) as service:
        http = service.client
        for n in range(4):
            http.put(f"/v1/offers/o{n}", json=make_offer(channels=["web"]))
        env = process_env(
            service,
            tmp_path / "data",
            NBO_LEARNER_CHECKPOINT_S="0.05",
            NBO_LEARNER_LEASE_S="1",
        )
        keys = Keys(prefix=service.settings.key_prefix)
        client = redis.Redis.from_url(redis_url)
        log = tmp_path / "learners.log"
        learners = [_start_learner(env, log), _start_learner(env, log)]
        total, sent = 400, 0

        def produce() -> None:
            nonlocal sent
            for n in range(total):
                decision = http.post(
                    "/v1/decisions", json={"customer_id": f"C{n % 40}", "channel": "web"}
                ).json()
                response = http.post(
                    f"/v1/decisions/{decision['decision_id']}/outcomes",
                    json={"offer_id": decision["offers"][0]["offer_id"], "outcome": "declined"},
                )
                assert response.status_code == 202
                sent += 1

        try:
            active = _holder_pid(client, keys)
            assert active in {p.pid for p in learners}
            producer = threading.Thread(target=produce)
            producer.start()
            while service.client.get("/v1/metrics/learning").json()["outcomes_learned"] < 60:
                time.sleep(0.1)
            victim = next(p for p in learners if p.pid == active)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            standby = next(p for p in learners if p.pid != active)
            # the lease expires unrenewed (1 s) and the standby takes it
            deadline = time.monotonic() + 10
            while _holder_pid(client, keys) != standby.pid:
                assert time.monotonic() < deadline, "the standby did not take over"
                time.sleep(0.05)
            producer.join()
            assert sent == total
            try:
                metrics = service.wait_learned(total, timeout_s=90)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{log.read_text()[-3000:]}") from exc
        finally:
            for p in learners:
                if p.poll() is None:
                    p.terminate()
                    p.wait(timeout=30)
        assert metrics["outcomes_learned"] == total
        state = pickle.loads(client.get(keys.checkpoint))
        assert state.learned + state.log_only == total == state.model.n_learned
        # a graceful stop hands the lease back at once
        assert client.get(keys.learner_lease) is None
        client.close()


pytestmark = pytest.mark.timeout(240)
