"""The SQL archive: customer history and joined interactions, written off the hot path.

Redis keeps the newest 500 history lines per customer and the outcome stream only until it is
learned; the archive keeps everything, so history outlives Redis TTLs and eviction and analysts
can filter and export the interaction log. The archiver (in the learner process) reads two
consumer groups, inserts what it read in one transaction, then acknowledges: a crash in between
redelivers, and the stream position key stores each entry once.

Erasure: ``erase`` deletes the customer's archived rows and remembers when; the archiver drops
lines of that customer logged before that moment that were still on their way.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Engine, Table, delete, func, select, text, tuple_
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection

from feature_store import ArchiveReader, HistoryLine, InteractionRecord, StoreError

from .errors import InvalidInput
from .tables import customer_history, erasures, interactions

__all__ = ["Archiver", "InteractionFilter", "SqlArchive"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class InteractionFilter:
    """Which archived interactions an analyst asks about; times are decision times (ms)."""

    channel: str | None = None
    offer_id: str | None = None
    customer_id: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    control_only: bool = False

    def __post_init__(self) -> None:
        if self.since_ms is not None and self.until_ms is not None:
            if self.until_ms <= self.since_ms:
                raise InvalidInput("until", "the window ends before (or when) it starts (since)")

    def clauses(self) -> list[Any]:
        i = interactions
        out: list[Any] = []
        if self.channel is not None:
            out.append(i.c.channel == self.channel)
        if self.offer_id is not None:
            out.append(i.c.offer_id == self.offer_id)
        if self.customer_id is not None:
            out.append(i.c.customer_id == self.customer_id)
        if self.since_ms is not None:
            out.append(i.c.decided_ms >= self.since_ms)
        if self.until_ms is not None:
            out.append(i.c.decided_ms < self.until_ms)
        if self.control_only:
            out.append(i.c.control_group.is_(True))
        return out


_ARCHIVE_LOCK = 0x6E626F_617263
"""PostgreSQL advisory lock key ("nbo" "arc") taken by archive writes and erasures."""


def lock_archive(conn: Connection) -> None:
    """Hold the archive's write lock until this transaction ends.

    An archiver's batch checks the erasures and then inserts: an erasure committed between the
    two found none of the batch's rows to delete (PostgreSQL: they were not committed yet;
    SQLite: the check ran before the write transaction began), and the rows of an erased
    customer were archived after all (seen once in CI under load). Writes and erasures of the
    archive now run one at a time: PostgreSQL by a transaction-scoped advisory lock, SQLite by
    starting the transaction with its write lock (``BEGIN IMMEDIATE``).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(_ARCHIVE_LOCK)))
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class SqlArchive:
    """Reads and writes the archive tables (synchronous SQLAlchemy; call from a thread)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _store(self, table: Table, rows: list[dict[str, Any]], at: str, chunk: int) -> int:
        """Insert rows in one transaction under the archive's lock, skipping rows seen before
        and rows of a customer erased at or after the row's time ``at``; returns rows added."""
        with self.engine.begin() as conn:
            lock_archive(conn)
            if conn.dialect.name == "postgresql":
                return _insert_recordset(conn, table, rows, at) if rows else 0
            erased = self._erased(conn, {row["customer_id"] for row in rows})
            kept = [row for row in rows if row[at] > erased.get(row["customer_id"], -1)]
            added = 0
            for part in _chunks(kept, chunk):
                # executemany form: one cached statement
                added += conn.execute(sqlite.insert(table).on_conflict_do_nothing(), part).rowcount
            return added

    @staticmethod
    def _erased(conn: Connection, customer_ids: set[str]) -> dict[str, int]:
        if not customer_ids:
            return {}
        rows = conn.execute(
            select(erasures.c.customer_id, erasures.c.erased_ms).where(
                erasures.c.customer_id.in_(customer_ids)
            )
        ).all()
        return {r.customer_id: r.erased_ms for r in rows}

    def store_history(self, lines: Sequence[HistoryLine]) -> int:
        """Insert history lines (a line seen before is skipped); returns the number added."""
        rows = [
            {
                "shard": shard,
                "stream_ms": ms,
                "stream_seq": seq,
                "customer_id": line.customer_id,
                "type": line.type,
                "line": line.line,
            }
            for line in lines
            for shard, ms, seq in [line.position]
        ]
        return self._store(customer_history, rows, "stream_ms", 500)

    def store_interactions(self, records: Sequence[InteractionRecord]) -> int:
        """Insert joined outcomes (one seen before is skipped); returns the number added."""
        rows = [
            {
                "shard": shard,
                "stream_ms": ms,
                "stream_seq": seq,
                "decision_id": r.decision_id,
                "offer_id": r.offer_id,
                "customer_id": r.customer_id,
                "channel": r.channel,
                "outcome": r.outcome,
                "source": r.source,
                "learned": r.learned,
                "control_group": r.control_group,
                "explored": r.explored,
                "probability": r.probability,
                "propensity": r.propensity,
                "value": r.value,
                "model_version": r.model_version,
                "decided_ms": r.decided_ms,
                "context": r.context,
                "attributes": r.attributes,
                "candidates": r.candidates,
            }
            for r in records
            for shard, ms, seq in [r.position]
        ]
        return self._store(interactions, rows, "decided_ms", 200)

    def history_page(
        self, customer_id: str, recent: Sequence[str], *, offset: int, limit: int
    ) -> list[Any]:
        """A page of the customer's history, newest first: Redis's recent lines, then the archive.

        ``recent`` is the customer's Redis list (newest first). The archive holds a prefix of
        the same sequence (the archiver may lag), the list a suffix (older lines are trimmed or
        expired): the page continues below the list's oldest line with archived lines older
        than it.
        """
        page = _newest_first([orjson.loads(line) for line in recent])[offset : offset + limit]
        if len(page) == limit:
            return page
        skip = max(0, offset - len(recent))
        want = limit - len(page)
        h = customer_history
        position = (h.c.stream_ms, h.c.stream_seq, h.c.shard)
        query = select(h.c.line).where(h.c.customer_id == customer_id)
        with self.engine.connect() as conn:
            if recent:
                anchor = conn.execute(
                    select(*position)
                    .where(h.c.customer_id == customer_id, h.c.line == recent[-1])
                    .order_by(*(c.desc() for c in position))
                    .limit(1)
                ).first()
                if anchor is not None:
                    query = query.where(tuple_(*position) < tuple_(*anchor))
            rows = conn.execute(
                query.order_by(*(c.desc() for c in position)).offset(skip).limit(want)
            ).all()
        return page + [orjson.loads(r.line) for r in rows]

    def decision_ids(self, customer_id: str) -> set[str]:
        """The decisions (inbound and outbound) in the customer's archived history."""
        h = customer_history
        with self.engine.connect() as conn:
            lines = conn.execute(
                select(h.c.line).where(
                    h.c.customer_id == customer_id, h.c.type.in_(("decision", "outbound"))
                )
            ).scalars()
            return {
                str(entry["decision_id"])
                for entry in map(orjson.loads, lines)
                if isinstance(entry, dict) and entry.get("decision_id")
            }

    def erase(self, customer_id: str, erased_ms: int) -> int:
        """Delete the customer's archived rows and remember the erasure; returns rows removed."""
        with self.engine.begin() as conn:
            lock_archive(conn)
            removed = conn.execute(
                delete(customer_history).where(customer_history.c.customer_id == customer_id)
            ).rowcount
            removed += conn.execute(
                delete(interactions).where(interactions.c.customer_id == customer_id)
            ).rowcount
            conn.execute(delete(erasures).where(erasures.c.customer_id == customer_id))
            conn.execute(erasures.insert().values(customer_id=customer_id, erased_ms=erased_ms))
        return int(removed)

    def interactions(
        self,
        where: InteractionFilter | None = None,
        *,
        limit: int | None = None,
        with_features: bool = True,
    ) -> list[dict[str, Any]]:
        """Archived interactions, oldest first; with ``limit``, the newest ``limit`` of them."""
        i = interactions
        columns = (
            list(i.c)
            if with_features
            else [c for c in i.c if c.name not in ("context", "attributes", "candidates")]
        )
        position = (i.c.stream_ms, i.c.stream_seq, i.c.shard)
        query = select(*columns).where(*(where or InteractionFilter()).clauses())
        query = query.order_by(*(c.desc() for c in position))
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        rows.reverse()
        return rows

    def control_rows(
        self, where: InteractionFilter, *, limit: int, batch: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """The newest ``limit`` archived control-group interactions matching ``where``, newest
        first, streamed ``batch`` rows at a time with only what an off-policy estimate reads.

        Streamed, not listed: the estimate runs on every look at the learning page, over up to
        tens of thousands of rows, and a list of whole rows (features included) cost the worker
        thread about 3 kB per row of heap that glibc kept (bench/soak.py's RSS rose with the
        archive).
        """
        i = interactions
        columns = (i.c.decision_id, i.c.offer_id, i.c.outcome, i.c.source, i.c.control_group,
                   i.c.candidates, i.c.context)  # fmt: skip
        control = dataclasses.replace(where, control_only=True)
        query = select(*columns).where(*control.clauses())
        query = query.order_by(i.c.stream_ms.desc(), i.c.stream_seq.desc(), i.c.shard.desc())
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=batch).execute(query.limit(limit))
            for row in result:
                yield dict(row._mapping)

    def interactions_for(self, customer_id: str) -> list[dict[str, Any]]:
        return self.interactions(InteractionFilter(customer_id=customer_id))

    def archived_count(self, customer_id: str | None = None) -> tuple[int, int]:
        """(history lines, interactions) archived, for one customer or all."""
        with self.engine.connect() as conn:
            hq = select(func.count()).select_from(customer_history)
            iq = select(func.count()).select_from(interactions)
            if customer_id is not None:
                hq = hq.where(customer_history.c.customer_id == customer_id)
                iq = iq.where(interactions.c.customer_id == customer_id)
            return int(conn.execute(hq).scalar_one()), int(conn.execute(iq).scalar_one())


def _newest_first(entries: list[Any]) -> list[Any]:
    """History lines by ``at``, newest first: the list holds them in the order they were
    recorded, and an event may be reported after things that happened since (it lands below
    them). Lines recorded at the same moment keep their order."""

    def at(entry: Any) -> float:
        try:
            return datetime.fromisoformat(str(entry["at"])).timestamp()
        except (KeyError, TypeError, ValueError):
            return float("inf")  # an undated line stays where it was recorded, at the top

    return sorted(entries, key=at, reverse=True)


_RECORDSET_SQL: dict[tuple[str, str | None, str], str] = {}


def _insert_recordset(conn: Connection, table: Table, rows: list[Any], at: str) -> int:
    """One ``INSERT ... SELECT FROM json_to_recordset(batch) ON CONFLICT DO NOTHING``.

    Why not ``executemany``: psycopg sends it as one execution per row, which cost the learner
    process about 24 µs and PostgreSQL about 13 µs a row (``bench/archive_throughput.py``); the
    archiver writes a row for every decision, and on a machine that also serves decisions that
    CPU is taken from them (docs/scaling.md). Here the batch is one JSON document (orjson, in C)
    and PostgreSQL parses, plans and runs one statement. Arrays per column (``unnest``) were
    slower: psycopg escapes each array element in Python. The erasures are checked in the same
    statement: read first, with a customer id per placeholder, they cost the learner more than
    the insert itself.
    """
    key = (table.name, table.schema, at)
    sql = _RECORDSET_SQL.get(key)
    if sql is None:
        preparer = conn.dialect.identifier_preparer
        names = [preparer.quote(column.name) for column in table.c]
        declared = [
            f"{name} {column.type.compile(dialect=conn.dialect)}"
            for name, column in zip(names, table.c, strict=True)
        ]
        sql = _RECORDSET_SQL[key] = (
            f"INSERT INTO {preparer.format_table(table)} ({', '.join(names)}) "
            f"SELECT {', '.join(names)} FROM json_to_recordset(CAST(:batch AS JSON)) "
            f"AS t({', '.join(declared)}) WHERE NOT EXISTS (SELECT 1 FROM "
            f"{preparer.format_table(erasures)} AS e WHERE e.customer_id = t.customer_id "
            f"AND e.erased_ms >= t.{preparer.quote(at)}) ON CONFLICT DO NOTHING"
        )
    return int(conn.execute(text(sql), {"batch": orjson.dumps(rows).decode()}).rowcount)


def _chunks(rows: list[Any], size: int) -> list[list[Any]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


class Archiver:
    """Moves history lines and joined outcomes from the Redis streams into SQL."""

    def __init__(self, reader: ArchiveReader, archive: SqlArchive, *, batch: int = 500) -> None:
        self.reader = reader
        self.archive = archive
        self.batch = batch
        self._full = False
        """Whether the last batch read filled ``batch`` (of either kind): a backlog."""
        self.transactions = 0
        """SQL transactions written (a batch of either kind is one)."""

    async def run_once(self) -> int:
        """Archive one batch of each kind; returns the number of entries handled."""
        lines = await self.reader.read_history(self.batch)
        if lines:
            await asyncio.to_thread(self.archive.store_history, lines)
            await self.reader.ack_history(lines)
            self.transactions += 1
        records = await self.reader.read_interactions(self.batch)
        if records:
            await asyncio.to_thread(self.archive.store_interactions, records)
            await self.reader.ack_interactions(records)
            self.transactions += 1
        self._full = self.batch in (len(lines), len(records))
        return len(lines) + len(records)

    async def drain(self) -> int:
        """Archive until both streams have nothing new (burst mode, for tests and benches)."""
        total = 0
        while handled := await self.run_once():
            total += handled
        return total

    async def run(self, stop: asyncio.Event, *, idle_s: float = 0.5) -> None:
        """Archive until ``stop``; after a batch that was not full, waits ``idle_s``.

        Waiting after a partial batch, not only after an empty one, lets the streams fill:
        reading again at once, a steady trickle of decisions was archived a few lines per SQL
        transaction, and the learner process took a quarter of a core at 464 decisions/s doing
        it (``bench/load.py``'s learner CPU at 50%). A full batch means a backlog: the next is
        read at once. A line reaches SQL within about ``idle_s``.
        """
        while not stop.is_set():
            try:
                await self.run_once()
            except StoreError:
                log.warning("archiver: Redis unavailable, retrying")
                self.reader.rewind()
                self._full = False
            except Exception:  # noqa: BLE001 - SQL down or a bug: retry, never lose entries
                log.exception("archiver: batch failed; it stays unacknowledged and is retried")
                self.reader.rewind()
                self._full = False
            if not self._full:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=idle_s)
