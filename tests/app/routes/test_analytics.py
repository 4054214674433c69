"""Analysts' views over the interaction archive: filters, the off-policy estimate of the served
model on the control group, and CSV / Parquet exports, through HTTP on real Redis and SQL."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pyarrow.parquet as pq
import pytest

from app.schemas import PolicyEstimate
from models.offline import Estimate
from tests.factories import make_customer, make_offer
from tests.services import Service, run_service

T = TypeVar("T")


def _on_server(service: Service, coro: Coroutine[Any, Any, T]) -> T:
    loop = service.runtime._tasks[0].get_loop()
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)


@pytest.fixture
def random_service(redis_url: str, database_url: str, tmp_path: Path) -> Iterator[Service]:
    """Every decision in the control group (uniform among eligible offers); no learner."""
    with run_service(
        redis_url,
        database_url,
        tmp_path / "data",
        seed=3,
        embedded_learner=False,
        control_share=1.0,
    ) as svc:
        yield svc


def _play(svc: Service, n: int, channel: str = "web", prefix: str = "C") -> list[dict[str, Any]]:
    """``n`` decisions; every customer accepts A and declines anything else."""
    out = []
    for i in range(n):
        d = svc.client.post(
            "/v1/decisions",
            json={"customer_id": f"{prefix}{i % 7}", "channel": channel, "interaction": "visit"},
        ).json()
        shown = d["offers"][0]["offer_id"]
        outcome = "accepted" if shown == "A" else "declined"
        response = svc.client.post(
            f"/v1/decisions/{d['decision_id']}/outcomes",
            json={"offer_id": shown, "outcome": outcome},
        )
        assert response.status_code == 202, response.text
        out.append(d)
    _on_server(svc, svc.runtime.new_archiver().drain())
    return out


def _catalogue(svc: Service, value_a: float, value_b: float) -> None:
    for offer_id, value in (("A", value_a), ("B", value_b)):
        body = make_offer(value=value, channels=["web", "app"])
        assert svc.client.put(f"/v1/offers/{offer_id}", json=body).status_code in (200, 201)
    for i in range(7):
        svc.client.put(f"/v1/customers/C{i}", json=make_customer())
        svc.client.put(f"/v1/customers/D{i}", json=make_customer())


def test_off_policy_estimate_of_the_served_model_on_control_decisions(
    random_service: Service,
) -> None:
    svc = random_service
    # the untrained model ranks by value: A (worth more) is its pick, and A is always accepted
    _catalogue(svc, value_a=50.0, value_b=5.0)
    decisions = _play(svc, 120)
    assert all(d["control_group"] for d in decisions)
    shown_a = sum(d["offers"][0]["offer_id"] == "A" for d in decisions)
    assert 30 < shown_a < 90  # uniform between the two

    metrics = svc.client.get("/v1/metrics/learning").json()
    estimate = metrics["off_policy"]
    assert estimate["control_decisions"] == 120
    assert estimate["matched"] == shown_a
    assert estimate["snips"]["value"] == pytest.approx(1.0)  # SNIPS of a sure thing is exact
    assert estimate["ips"]["value"] == pytest.approx(shown_a * 2 / 120)
    assert estimate["ips"]["ci_low"] < estimate["ips"]["value"] < estimate["ips"]["ci_high"]

    # make B the served model's pick: its estimated acceptance is what B gets, zero
    _catalogue(svc, value_a=5.0, value_b=50.0)
    _on_server(svc, svc.runtime.catalogue_changed())
    estimate = svc.client.get("/v1/metrics/learning").json()["off_policy"]
    assert estimate["matched"] == 120 - shown_a
    assert estimate["snips"]["value"] == pytest.approx(0.0)


def test_an_estimate_the_data_cannot_give_is_null_as_documented() -> None:
    """No control decision matched: SNIPS is undefined (NaN inside), null in the answer, and
    the schema says it may be."""
    view = PolicyEstimate.of(Estimate(math.nan, math.nan, math.nan, 0))
    assert json.loads(view.model_dump_json()) == {
        "value": None,
        "ci_low": None,
        "ci_high": None,
        "n": 0,
    }
    defined = PolicyEstimate.of(Estimate(0.25, 0.1, 0.4, 12))
    assert (defined.value, defined.ci_low, defined.ci_high, defined.n) == (0.25, 0.1, 0.4, 12)
    schema = PolicyEstimate.model_json_schema()["properties"]["value"]
    assert {"type": "null"} in schema["anyOf"]


@pytest.mark.parametrize(("name", "value"), [("channel", "bad ch"), ("offer_id", "a/b")])
def test_a_filter_no_channel_or_offer_could_have_is_a_422(
    random_service: Service, name: str, value: str
) -> None:
    response = random_service.client.get("/v1/metrics/learning", params={name: value})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == name


def test_filters_by_channel_offer_and_time_window(random_service: Service) -> None:
    svc = random_service
    _catalogue(svc, value_a=10.0, value_b=10.0)
    web = _play(svc, 40, channel="web")
    app = _play(svc, 25, channel="app", prefix="D")

    def shown(ds: list[dict[str, Any]], offer: str) -> int:
        return sum(d["offers"][0]["offer_id"] == offer for d in ds)

    by_web = svc.client.get("/v1/metrics/learning", params={"channel": "web"}).json()
    assert by_web["source"] == "archive" and by_web["filters"]["channel"] == "web"
    rows = {o["offer_id"]: o for o in by_web["offers"]}
    assert rows["A"]["impressions"] == shown(web, "A") == rows["A"]["accepted"]
    assert rows["B"]["impressions"] == shown(web, "B") and rows["B"]["accepted"] == 0
    assert by_web["control"]["decisions"] == 40 and by_web["model"]["decisions"] == 0
    assert by_web["control"]["accepted"] == shown(web, "A")

    by_offer = svc.client.get(
        "/v1/metrics/learning", params={"channel": "app", "offer_id": "B"}
    ).json()
    assert [o["offer_id"] for o in by_offer["offers"]] == ["B"]
    assert by_offer["offers"][0]["impressions"] == shown(app, "B")

    now = datetime.now(UTC)
    recent = svc.client.get(
        "/v1/metrics/learning", params={"since": (now - timedelta(hours=1)).isoformat()}
    ).json()
    assert recent["control"]["decisions"] == 65
    future = svc.client.get("/v1/metrics/learning", params={"since": now.isoformat()}).json()
    assert future["offers"] == [] and future["control"]["decisions"] == 0

    # unfiltered: the live counters, which agree with the archive once everything is resolved
    live = svc.client.get("/v1/metrics/learning").json()
    assert live["source"] == "live" and live["control"]["decisions"] == 65

    bad = svc.client.get("/v1/metrics/learning", params={"since": "yesterday"})
    assert bad.status_code == 422 and "since" in bad.text


def test_exports_as_csv_and_parquet(random_service: Service) -> None:
    svc = random_service
    _catalogue(svc, value_a=10.0, value_b=10.0)
    decisions = _play(svc, 30)

    analyst = {"Authorization": f"Bearer {svc.key_for('analyst')}"}
    as_csv = svc.client.get("/v1/export/interactions", params={"format": "csv"}, headers=analyst)
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(rows) == 30
    assert [r["decision_id"] for r in rows] == [d["decision_id"] for d in decisions]
    first = rows[0]
    assert first["channel"] == "web" and first["interaction"] == "visit"
    assert first["outcome"] == ("accepted" if first["offer_id"] == "A" else "declined")
    assert first["control_group"] == "True" and first["context.segment"] == "family"
    assert float(first["probability"]) == pytest.approx(decisions[0]["offers"][0]["probability"])
    assert sorted(json.loads(first["candidates"])) == ["A", "B"]

    as_parquet = svc.client.get(
        "/v1/export/interactions", params={"format": "parquet", "offer_id": "A"}, headers=analyst
    )
    assert as_parquet.status_code == 200
    table = pq.read_table(io.BytesIO(as_parquet.content))
    assert table.num_rows == sum(d["offers"][0]["offer_id"] == "A" for d in decisions)
    assert set(table.column("outcome").to_pylist()) == {"accepted"}
    assert table.schema.field("context.tenure_months").type == "int64"

    model = svc.client.get("/v1/export/model", params={"format": "csv"}, headers=analyst)
    assert model.status_code == 200
    header = model.text.splitlines()[0].split(",")
    assert header == ["model_version", "offer_id", "rank", "feature", "token", "weight"]

    columns = svc.client.get("/v1/export", headers=analyst).json()
    assert "propensity" in columns["interactions"] and "weight" in columns["model"]

    channel_key = {"Authorization": f"Bearer {svc.key_for('channel')}"}
    assert svc.client.get("/v1/export/interactions", headers=channel_key).status_code == 403
    missing = svc.client.get("/v1/export/model", params={"version": 999}, headers=analyst)
    assert missing.status_code == 404 and "999" in missing.text
    wrong = svc.client.get("/v1/export/interactions", params={"format": "xls"}, headers=analyst)
    assert wrong.status_code == 422 and "format" in wrong.text


@pytest.mark.parametrize("path", ["/v1/metrics/learning", "/v1/export/interactions"])
def test_a_time_window_that_ends_before_it_starts_is_a_422(service: Service, path: str) -> None:
    """``until`` before ``since`` is a mistake (swapped bounds), not an empty window."""
    response = service.client.get(
        path, params={"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "until"
    same = {"since": "2026-11-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"}
    assert service.client.get(path, params=same).status_code == 422
