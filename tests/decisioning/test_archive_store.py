"""The archiver's writes (PostgreSQL and SQLite): every column as it was streamed, a line seen
before stored once, and nothing of a customer erased after it was logged."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from sqlalchemy import Engine

from decisioning import make_engine, migrate
from decisioning.archive import InteractionFilter, SqlArchive
from feature_store import HistoryLine, InteractionRecord


@pytest.fixture
def archive(database_url: str) -> Iterator[SqlArchive]:
    engine: Engine = make_engine(database_url)
    try:
        migrate(engine)
        yield SqlArchive(engine)
    finally:
        engine.dispose()


def _line(customer: str, ms: int, seq: int = 0, shard: int = 0) -> HistoryLine:
    body = {"type": "decision", "decision_id": f"d{ms}-{seq}", "note": 'quote " and \\ é'}
    return HistoryLine(shard, f"{ms}-{seq}", customer, orjson.dumps(body).decode())


def _record(customer: str, decided_ms: int, **changes: object) -> InteractionRecord:
    fields: dict[str, object] = {
        "shard": 1,
        "stream_id": f"{decided_ms + 5}-0",
        "decision_id": f"d{decided_ms}",
        "offer_id": "o1",
        "customer_id": customer,
        "channel": "web",
        "outcome": "accepted",
        "source": "response",
        "learned": True,
        "control_group": False,
        "explored": True,
        "probability": 0.25,
        "propensity": 0.125,
        "value": None,
        "model_version": 7,
        "decided_ms": decided_ms,
        "context": {"segment": "youth", "spend": 12.5, "products": ["tv"], "vip": False},
        "attributes": {"offer.id": "o1", "offer.price": 9.99},
        "candidates": None,
    }
    return InteractionRecord(**(fields | changes))  # type: ignore[arg-type]


def test_history_lines_are_stored_once_as_streamed(archive: SqlArchive) -> None:
    lines = [_line("C1", 1_000), _line("C1", 1_000, seq=1), _line("C2", 1_001, shard=3)]
    assert archive.store_history(lines) == 3
    assert archive.store_history([lines[0], _line("C1", 1_002)]) == 1  # redelivered: once
    assert archive.archived_count() == (4, 0)
    page = archive.history_page("C1", [], offset=0, limit=10)
    assert [entry["decision_id"] for entry in page] == ["d1002-0", "d1000-1", "d1000-0"]
    assert page[0]["note"] == 'quote " and \\ é'


def test_interactions_keep_every_column(archive: SqlArchive) -> None:
    first = _record("C1", 5_000)
    second = _record("C1", 6_000, value=42.5, candidates=["o1", "o2"], control_group=True,
                     probability=None, propensity=None, learned=False)  # fmt: skip
    assert archive.store_interactions([first, second]) == 2
    assert archive.store_interactions([first]) == 0
    rows = archive.interactions(InteractionFilter(customer_id="C1"))
    assert len(rows) == 2
    for row, record in zip(rows, (first, second), strict=True):
        shard, ms, seq = record.position
        assert (row["shard"], row["stream_ms"], row["stream_seq"]) == (shard, ms, seq)
        for name in ("decision_id", "offer_id", "customer_id", "channel", "outcome", "source",
                     "learned", "control_group", "explored", "probability", "propensity",
                     "value", "model_version", "decided_ms", "context", "attributes",
                     "candidates"):  # fmt: skip
            assert row[name] == getattr(record, name), name


def test_rows_logged_before_an_erasure_are_not_archived(archive: SqlArchive) -> None:
    archive.erase("C9", 2_000)
    # still on their way when C9 was erased: dropped; logged after it: kept
    assert archive.store_history([_line("C9", 1_500), _line("C9", 2_000), _line("C9", 2_500)]) == 1
    assert archive.store_interactions([_record("C9", 1_900), _record("C9", 2_100)]) == 1
    assert archive.store_history([_line("C8", 1_500)]) == 1  # another customer: kept
    assert archive.archived_count("C9") == (1, 1)
    kept = archive.interactions_for("C9")
    assert [row["decided_ms"] for row in kept] == [2_100]
