"""A real ``nbo learner``, SIGKILLed at random moments, learns every outcome exactly once."""

from __future__ import annotations

import pickle
import random
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


def test_sigkilled_learner_learns_each_outcome_once(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    with run_service(
        redis_url, database_url, tmp_path / "data", embedded_learner=False, seed=3
    ) as service:
        http = service.client
        for n in range(5):
            http.put(f"/v1/offers/o{n}", json=make_offer(channels=["web"]))
        env = process_env(
            service,
            tmp_path / "data",
            NBO_LEARNER_CHECKPOINT_S="0.05",
            NBO_LEARNER_LEASE_S="0.5",  # a restarted learner takes over its own lease fast
        )
        total = 1500
        sent = 0
        done = threading.Event()

        def produce() -> None:
            nonlocal sent
            rng = random.Random(5)
            for n in range(total):
                decision = http.post(
                    "/v1/decisions", json={"customer_id": f"C{n % 50}", "channel": "web"}
                ).json()
                outcome = "accepted" if rng.random() < 0.3 else "declined"
                response = http.post(
                    f"/v1/decisions/{decision['decision_id']}/outcomes",
                    json={"offer_id": decision["offers"][0]["offer_id"], "outcome": outcome},
                )
                assert response.status_code == 202
                sent += 1
            done.set()

        producer = threading.Thread(target=produce)
        producer.start()
        rng = random.Random(11)
        kills = 0
        learner = _start_learner(env, tmp_path / "learner.log")
        try:
            while not done.is_set():
                time.sleep(rng.uniform(0.3, 1.2))
                learner.send_signal(signal.SIGKILL)
                learner.wait()
                kills += 1
                learner = _start_learner(env, tmp_path / "learner.log")
            producer.join()
            assert sent == total and kills >= 2
            try:
                metrics = service.wait_learned(total, timeout_s=90)
            except AssertionError as exc:
                log = (tmp_path / "learner.log").read_text()[-3000:]
                raise AssertionError(f"{exc}\n{log}") from exc
        finally:
            learner.terminate()
            learner.wait(timeout=30)
        # the final checkpoint is authoritative: each outcome applied exactly once
        assert metrics["outcomes_learned"] == total
        client = redis.Redis.from_url(redis_url)
        state = pickle.loads(client.get(Keys(prefix=service.settings.key_prefix).checkpoint))
        client.close()
        assert state.learned == total
        assert state.model.n_learned == total
        assert state.learned + state.log_only == total


pytestmark = pytest.mark.timeout(240)
