"""Everything a running nbo process holds: stores, catalogue, model, decider, learner.

Built in the FastAPI lifespan (never at import), kept on ``app.state.runtime``. The CLI uses the
same object to seed demo data and to run a stand-alone learner.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import random
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from decisioning import Catalogue, Decider, ModelHolder, SqlCatalogue, make_engine, migrate
from decisioning.archive import Archiver, SqlArchive
from decisioning.model_registry import ModelRegistry
from decisioning.policies import SqlPolicies
from feature_store import (
    BundledRedis,
    FeatureStore,
    Keys,
    LeaseLost,
    RedisLease,
    StoreError,
    connect,
)
from models import BanditModel, LearnerLoop, Snapshot, ThompsonPolicy

from .auth import KeyRing
from .memory import trim_forever
from .settings import Settings

__all__ = ["Runtime"]

log = logging.getLogger("nbo")

HOURLY_STATS_KEEP_H = 7 * 24
"""Hours of hourly live counters kept in Redis (see ``RedisDecisionLog.forget_hours``)."""


class LearnerStalled(Exception):
    """The learner's loop showed no sign of life for ``learner_stall_s``."""


class RecordingSink:
    """Publishes snapshots to Redis for the workers and records each version in SQL."""

    def __init__(self, store: FeatureStore, registry: ModelRegistry) -> None:
        self._store = store
        self._registry = registry

    async def publish_snapshot(self, version: int, data: bytes, *, n_learned: int) -> None:
        await self._store.models.publish_snapshot(version, data, n_learned=n_learned)
        try:
            await asyncio.to_thread(self._registry.record, version, n_learned)
        except Exception:  # noqa: BLE001 - the history is secondary; serving must go on
            log.warning("could not record model version %s in SQL", version, exc_info=True)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    store: FeatureStore
    catalogue: Catalogue
    model: ModelHolder
    decider: Decider
    keyring: KeyRing
    registry: ModelRegistry
    archive: SqlArchive
    bundled_redis: BundledRedis | None = None
    learner: LearnerLoop | None = None
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    answers: dict[tuple[Any, ...], tuple[float, Any]] = field(default_factory=dict)
    """Costly read-only answers cached for a while by the routes that compute them (the
    off-policy estimate), keyed by what they depend on."""

    @classmethod
    async def open(cls, settings: Settings, *, run_migrations: bool = True) -> Runtime:
        bundled = None
        redis_url = settings.redis_url
        if redis_url is None:
            from feature_store import start_bundled_redis

            # in this thread, not a worker thread: the server is tied to its creator's lifetime
            bundled = start_bundled_redis(settings.data_dir / "redis")
            redis_url = bundled.url
        engine = make_engine(settings.effective_database_url())
        if settings.database_url is None:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        if run_migrations:
            await asyncio.to_thread(migrate, engine)
        client = connect(
            redis_url,
            cluster=settings.redis_cluster,
            max_connections=settings.redis_max_connections,
        )
        keys = Keys(prefix=settings.key_prefix, shards=settings.stream_shards)
        store = FeatureStore.build(
            client,
            keys,
            events_history_skip=settings.events_history_skip,
            decision_log_ttl_s=settings.decision_log_ttl_s,
            lean=True,
        )
        catalogue = Catalogue(
            SqlCatalogue(engine),
            refresh_s=settings.catalogue_refresh_s,
            policies=SqlPolicies(engine),
        )
        holder = ModelHolder(refresh_s=settings.snapshot_refresh_s)
        seed = settings.seed if settings.seed is not None else random.randrange(2**31)
        policy = ThompsonPolicy(
            control_share=settings.control_share,
            floor=settings.exploration_floor,
            draws=settings.thompson_draws,
            seed=seed,
        )
        decider = Decider(
            customers=store.customers,
            log=store.decisions,
            catalogue=catalogue,
            model=holder,
            policy=policy,
        )
        keyring = KeyRing(engine, settings.effective_admin_key())
        runtime = cls(
            settings=settings,
            engine=engine,
            store=store,
            catalogue=catalogue,
            model=holder,
            decider=decider,
            keyring=keyring,
            registry=ModelRegistry(engine),
            archive=SqlArchive(engine),
            bundled_redis=bundled,
        )
        await runtime.refresh(force=True)
        return runtime

    def new_learner(
        self, consumer: str = "learner-0", lease: RedisLease | None = None
    ) -> LearnerLoop:
        """A learner; with ``lease``, its checkpoints are written only while it holds the lease."""
        return LearnerLoop(
            self.store.outcome_stream(consumer),
            self.store.fenced_checkpoints(lease) if lease is not None else self.store.models,
            RecordingSink(self.store, self.registry),
            model_factory=BanditModel,
            checkpoint_interval_s=self.settings.learner_checkpoint_s,
        )

    def new_archiver(self, consumer: str = "archiver-0") -> Archiver:
        return Archiver(self.store.archive_reader(consumer), self.archive)

    async def refresh(self, *, force: bool = False) -> None:
        """Pick up a new catalogue version and a new model snapshot, if any."""
        try:
            await self.catalogue.refresh(await self.store.models.catalogue_version(), force=force)
            latest = await self.store.models.serving_version()
        except StoreError:
            if force:
                await asyncio.to_thread(self.catalogue.load, self.catalogue.version)
            return
        finally:
            self.model.checked()
        if latest != self.model.version:
            data = await self.store.models.load_snapshot(latest)
            if data is not None:
                self.model.install(await asyncio.to_thread(Snapshot.from_bytes, data))
        # on the event loop, not in a thread: the holder's cache is swapped without a lock
        self.decider.prepare()

    async def catalogue_changed(self) -> None:
        version = await self.store.models.bump_catalogue()
        await self.catalogue.refresh(version)

    def start_background(self, *, learner: bool) -> None:
        self._tasks.append(asyncio.create_task(self._refresh_loop(), name="nbo-refresh"))
        self.start_memory_trim()
        if learner:
            self._tasks.append(asyncio.create_task(self._learner_loop(), name="nbo-learner"))

    def start_memory_trim(self) -> None:
        trim = trim_forever(self._stop, self.settings.malloc_trim_s)
        self._tasks.append(asyncio.create_task(trim, name="nbo-malloc-trim"))

    async def _refresh_loop(self) -> None:
        interval = min(self.settings.snapshot_refresh_s, self.settings.catalogue_refresh_s)
        while not self._stop.is_set():
            try:
                await self.refresh()
            except Exception:  # noqa: BLE001 - a failed refresh must never kill the worker
                log.exception("refresh failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=interval)

    async def _learner_loop(self) -> None:
        await self.learn_forever(self._stop)

    async def learn_forever(self, stop: asyncio.Event, consumer: str = "learner-0") -> None:
        """Be the active learner while holding the lease; a hot standby otherwise.

        Any number of processes may run this: the lease holder learns (restarting from its
        checkpoint after any failure), the others retry the lease every ``ttl / 3`` and take
        over when the holder stops renewing it. All use the stream consumer name ``consumer``,
        so the new holder re-reads what the old one had not acknowledged.
        """
        holder = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        ttl_ms = int(self.settings.learner_lease_s * 1000)
        lease = self.store.learner_lease(holder, ttl_ms=ttl_ms)
        standby_logged = False
        try:
            while not stop.is_set():
                try:
                    held = await lease.acquire()
                except StoreError:
                    held = False
                if held:
                    standby_logged = False
                    log.info("learner %s: active (lease held)", holder)
                    await self._lead(lease, stop, consumer)
                elif not standby_logged:
                    log.info("learner %s: standby (another learner holds the lease)", holder)
                    standby_logged = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=ttl_ms / 3000)
        finally:
            with contextlib.suppress(StoreError):
                await lease.release()

    async def _lead(self, lease: RedisLease, stop: asyncio.Event, consumer: str) -> None:
        """Learn while the lease is renewed; return when it is lost or ``stop`` is set."""
        lost = asyncio.Event()
        active = asyncio.Event()

        async def renew() -> None:
            while not active.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(active.wait(), timeout=lease.ttl_ms / 3000)
                if active.is_set():
                    return
                try:
                    still = await lease.renew()
                except StoreError:
                    still = True  # Redis is away: the learner cannot write either; keep trying
                if not still:
                    log.warning("learner %s: lease lost; standing by", lease.holder)
                    lost.set()
                    active.set()

        async def relay_stop() -> None:
            await stop.wait()
            active.set()

        helpers = [asyncio.create_task(renew()), asyncio.create_task(relay_stop())]
        try:
            while not active.is_set():
                self.learner = self.new_learner(consumer, lease)
                try:
                    await self._run_watched(self.learner, active)
                except LearnerStalled as stalled:
                    log.error("%s; restarting from its checkpoint", stalled)
                except LeaseLost:
                    lost.set()
                    active.set()
                except StoreError:
                    log.warning("learner: Redis unavailable; restarting when it answers")
                    await self._until_redis_answers(active)
                except Exception:  # noqa: BLE001 - the learner must outlive a bad record or a bug
                    log.exception("learner failed; restarting from its checkpoint")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(active.wait(), timeout=1.0)
        finally:
            active.set()
            for task in helpers:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _run_watched(self, learner: LearnerLoop, stop: asyncio.Event) -> None:
        """``run_learner``, cancelled if its loop shows no sign of life for ``learner_stall_s``.

        Whatever a learner waits on without end (a lock, a lost reply), outcomes would pile up
        unlearned and unnoticed; a restart from the checkpoint keeps exactly-once, and the
        stack where it was stuck goes to the log.
        """
        stall_s = self.settings.learner_stall_s
        task = asyncio.create_task(self.run_learner(learner, stop))
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=min(stall_s / 4, 5.0))
                idle = time.monotonic() - learner.progressed_at
                if not task.done() and idle > stall_s:
                    where = io.StringIO()
                    task.print_stack(file=where)
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    raise LearnerStalled(
                        f"learner made no progress for {idle:.0f} s; it was at\n{where.getvalue()}"
                    )
            task.result()
        finally:
            if not task.done():  # this supervisor itself was cancelled (shutdown)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _until_redis_answers(self, stop: asyncio.Event) -> None:
        """Wait until Redis answers a PING again before the learner restarts.

        A stalled Redis still holds the reads the failed learner sent; it runs them when it
        wakes, delivering entries to this consumer. Restarting only once Redis answers lets
        those land before the new learner looks at its pending entries.
        """
        while not stop.is_set() and not await self.store.ping():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)

    async def run_learner(self, learner: LearnerLoop, stop: asyncio.Event) -> None:
        """The learner with its chores: window defaults, date scan, the SQL archiver."""
        chores = [
            asyncio.create_task(self._sweep_windows(stop)),
            asyncio.create_task(self._forget_old_hours(stop)),
            asyncio.create_task(self._scan_dates(stop)),
            asyncio.create_task(self.new_archiver().run(stop)),
        ]
        try:
            await learner.restore()
            await learner.run(stop)
        finally:
            await learner.close()
            for chore in chores:
                chore.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await chore

    async def _sweep_windows(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.store.decisions.close_due_windows(int(time.time() * 1000))
            except StoreError:
                pass
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)

    async def _forget_old_hours(self, stop: asyncio.Event) -> None:
        """The live counters' hourly fields older than a week go, once an hour (the learning
        metrics' timeline shows the last 48 hours; the SQL archive keeps every interaction)."""
        while not stop.is_set():
            try:
                now_hour = int(time.time()) // 3600
                await self.store.decisions.forget_hours(now_hour - HOURLY_STATS_KEEP_H)
            except StoreError:
                log.warning("hourly counters: Redis unavailable")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=3600)

    async def _scan_dates(self, stop: asyncio.Event) -> None:
        """Birthdays and contract ends become events, every five minutes, in the learner."""
        from .moments import scan_dates  # app.moments imports Runtime for typing only

        while not stop.is_set():
            try:
                await scan_dates(self)
            except StoreError:
                log.warning("date scan: Redis unavailable")
            except Exception:  # noqa: BLE001 - a failed scan must not stop the learner
                log.exception("date scan failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=300)

    async def close(self) -> None:
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=10)
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await self.store.close()
        self.engine.dispose()
        if self.bundled_redis is not None:
            await asyncio.to_thread(self.bundled_redis.stop)
