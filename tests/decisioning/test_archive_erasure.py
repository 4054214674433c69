"""An erasure and an archiver's batch never interleave: the rows of a batch that was checking and
inserting while the customer was erased are erased too (PostgreSQL and SQLite)."""

from __future__ import annotations

import threading

from sqlalchemy import insert

from decisioning import make_engine, migrate
from decisioning.archive import SqlArchive, lock_archive
from decisioning.tables import customer_history


def test_an_erasure_waits_for_the_batch_in_flight_and_then_erases_its_rows(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        archive = SqlArchive(engine)
        erased = threading.Event()
        with engine.begin() as conn:
            # an archiver in the middle of its batch: it found no erasure of C9, and inserts
            lock_archive(conn)
            conn.execute(
                insert(customer_history).values(
                    shard=0, stream_ms=1_000, stream_seq=0, customer_id="C9", type="decision",
                    line='{"type": "decision", "decision_id": "d1"}',
                )
            )  # fmt: skip
            eraser = threading.Thread(
                target=lambda: (archive.erase("C9", 2_000), erased.set()), daemon=True
            )
            eraser.start()
            # the erasure waits for the batch: done now, it would have missed the batch's row
            assert not erased.wait(0.5)
        eraser.join(timeout=30)
        assert erased.is_set()
        assert archive.archived_count("C9") == (0, 0)
    finally:
        engine.dispose()
