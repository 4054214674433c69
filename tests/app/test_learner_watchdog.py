"""A learner stuck on something that never answers is restarted, and still learns exactly once.

The stall is real: the model-versions table is locked by another database session, so the
learner's checkpoint waits on it (PostgreSQL: without end; SQLite: up to its busy timeout).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.factories import make_offer
from tests.services import Service, run_service


@contextmanager
def locked_model_versions(service: Service) -> Iterator[None]:
    engine = service.runtime.engine
    if engine.dialect.name == "sqlite":
        raw = sqlite3.connect(engine.url.database, isolation_level=None)
        raw.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            raw.execute("ROLLBACK")
            raw.close()
        return
    with engine.connect() as conn, conn.begin() as transaction:
        conn.execute(text("LOCK TABLE model_versions IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            transaction.rollback()


def _decide_and_respond(service: Service, n: int) -> None:
    for _ in range(n):
        decision = service.client.post(
            "/v1/decisions", json={"customer_id": "C1", "channel": "web"}
        ).json()
        posted = service.client.post(
            f"/v1/decisions/{decision['decision_id']}/outcomes",
            json={"offer_id": decision["offers"][0]["offer_id"], "outcome": "accepted"},
        )
        assert posted.json()["status"] == "recorded"


def test_a_stalled_learner_is_restarted_and_learns_each_outcome_once(
    redis_url: str, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="nbo")
    with run_service(
        redis_url, database_url, tmp_path / "data", seed=1, learner_stall_s=1.0
    ) as svc:
        svc.client.put("/v1/offers/o1", json=make_offer(channels=["web"]))
        _decide_and_respond(svc, 1)
        svc.wait_learned(1)
        with locked_model_versions(svc):
            _decide_and_respond(svc, 10)
            deadline = time.monotonic() + 20
            while "made no progress" not in caplog.text:
                assert time.monotonic() < deadline, "the stalled learner was never restarted"
                time.sleep(0.1)
        svc.wait_learned(11)
        time.sleep(svc.settings.learner_checkpoint_s * 3)
        assert svc.client.get("/v1/metrics/learning").json()["outcomes_learned"] == 11
    stalled = next(r for r in caplog.records if "made no progress" in r.getMessage())
    assert "it was at" in stalled.getMessage() and "checkpoint" in stalled.getMessage()
