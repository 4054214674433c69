"""The ``nbo`` command: serve, learner, keys."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from .http_protocol import CoalescingHttpToolsProtocol
from .settings import Settings

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .auth import KeyRing
    from .runtime import Runtime

__all__ = ["SERVER_OPTIONS", "main"]

SERVER_OPTIONS: dict[str, Any] = {
    "loop": "uvloop",
    "http": CoalescingHttpToolsProtocol,
    "access_log": False,
    "timeout_worker_healthcheck": 30,
    "timeout_keep_alive": 65,
}
"""uvicorn settings of ``nbo serve``: uvloop and httptools are worth about 7x over asyncio and h11
on a bare endpoint, and httptools here sends each answer in one write (:mod:`app.http_protocol`).
A worker takes seconds to import its libraries (river, scipy, SQLAlchemy); on
a busy machine that exceeded uvicorn's default 5 s health check, and the supervisor killed and
restarted workers in a loop, never serving. Idle keep-alive connections are kept 65 s, longer
than clients and load balancers keep theirs (httpx 5 s, like uvicorn's default; AWS ALB 60 s):
a server that closes first races a request sent on the closing connection, and the caller gets
a reset instead of an answer. ``bench/floor_app.py`` runs the floor under these same settings."""


def _serve(args: argparse.Namespace) -> int:
    from feature_store import start_bundled_redis

    from .workers import serve

    settings = Settings()
    bundled = None
    learner_process: subprocess.Popen[bytes] | None = None
    # uvicorn re-raises SIGTERM after its graceful shutdown; turn it into an exit so that the
    # cleanup below (bundled Redis, learner process) runs, as it does for Ctrl-C
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if settings.redis_url is None:
        bundled = start_bundled_redis(settings.data_dir / "redis")
        os.environ["REDIS_URL"] = bundled.url
        settings = Settings()
    admin_key = settings.effective_admin_key()
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # every worker writes its samples here; a scrape of any worker sums them all
        metrics_dir = settings.data_dir / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())
    os.environ["NBO_ADMIN_KEY"] = admin_key
    try:
        asyncio.run(_prepare(settings, demo=args.demo))
        embedded = not args.no_learner and args.workers == 1
        os.environ["NBO_EMBEDDED_LEARNER"] = "true" if embedded else "false"
        if not args.no_learner and args.workers > 1:
            learner_process = subprocess.Popen([sys.executable, "-m", "app.cli", "learner"])
        host = "localhost" if args.host in ("0.0.0.0", "127.0.0.1") else args.host
        print(f"nbo serving on http://{host}:{args.port}  (docs: /docs)", flush=True)
        print(f"pages: http://{host}:{args.port}/dashboard  /agent  /demo/web", flush=True)
        # the key itself only for the demo: otherwise stdout ends up in logs
        where = "NBO_ADMIN_KEY" if settings.admin_key else str(settings.data_dir / "admin.key")
        print(f"admin key: {admin_key if args.demo else 'in ' + where}", flush=True)
        # a listening socket per worker, so that connections spread evenly (app/workers.py)
        serve(
            "app.main:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
            **SERVER_OPTIONS,
        )
    finally:
        if learner_process is not None:
            learner_process.terminate()
            learner_process.wait(timeout=30)
        if bundled is not None:
            bundled.stop()
    return 0


async def _prepare(settings: Settings, *, demo: bool) -> None:
    """Migrate the schema and seed demo data before the workers start."""
    from .runtime import Runtime

    runtime = await Runtime.open(settings)
    try:
        if demo:
            from .seeding import seed_demo

            offers, customers = await seed_demo(runtime)
            print(f"demo data: {offers} new offers, {customers} customers", flush=True)
    finally:
        await runtime.close()


def _learner(args: argparse.Namespace) -> int:
    settings = Settings()
    if settings.redis_url is None:
        print("nbo learner needs REDIS_URL (the server nbo serve uses)", file=sys.stderr)
        return 2
    return asyncio.run(
        _run_until_signal(
            settings,
            f"nbo learner {args.consumer} running",
            lambda runtime, stop: runtime.learn_forever(stop, args.consumer),
        )
    )


def _archiver(args: argparse.Namespace) -> int:
    """More SQL archivers beside the one the active learner runs (one consumer group)."""
    settings = Settings()
    if settings.redis_url is None:
        print("nbo archiver needs REDIS_URL (the server nbo serve uses)", file=sys.stderr)
        return 2
    return asyncio.run(
        _run_until_signal(
            settings,
            f"nbo archiver {args.consumer} running",
            lambda runtime, stop: runtime.new_archiver(args.consumer).run(stop),
        )
    )


async def _run_until_signal(
    settings: Settings,
    banner: str,
    work: Callable[[Runtime, asyncio.Event], Awaitable[None]],
) -> int:
    """Open the runtime, run ``work`` until SIGTERM or SIGINT, close the runtime."""
    from .blas import limit_blas_threads
    from .collector import settle_heap, tune_collector
    from .memory import limit_malloc_arenas
    from .runtime import Runtime

    limit_malloc_arenas(settings.malloc_arenas)
    limit_blas_threads(settings.blas_threads)
    tune_collector(settings.gc_young)

    runtime = await Runtime.open(settings)
    if settings.gc_freeze:
        settle_heap()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    runtime.start_memory_trim()
    print(banner, flush=True)
    try:
        await work(runtime, stop)
    finally:
        await runtime.close()
    return 0


def _keyring() -> KeyRing:
    """The key table of the configured database (migrated first: it may be a new one)."""
    from decisioning import make_engine, migrate

    from .auth import KeyRing

    settings = Settings()
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url())
    migrate(engine)
    return KeyRing(engine, settings.effective_admin_key())


def _keys_create(args: argparse.Namespace) -> int:
    from decisioning import InvalidInput

    try:
        key_id, key = _keyring().create(args.role)
    except InvalidInput as exc:
        print(exc.problem, file=sys.stderr)
        return 2
    print(key)
    print(f"key id {key_id}, role {args.role}", file=sys.stderr)
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    """One line per key: id, role, created, revoked; never the key or its hash."""
    infos = _keyring().list(include_revoked=not args.active)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "key_id": i.key_id,
                        "role": i.role,
                        "created_at": i.created_at.isoformat() if i.created_at else None,
                        "revoked": i.revoked,
                    }
                    for i in infos
                ]
            )
        )
        return 0
    print(f"{'KEY ID':<18} {'ROLE':<9} {'CREATED':<25} REVOKED")
    for info in infos:
        created = info.created_at.isoformat(timespec="seconds") if info.created_at else "-"
        print(f"{info.key_id:<18} {info.role:<9} {created:<25} {'yes' if info.revoked else 'no'}")
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    from decisioning import InvalidInput, NotFound

    ring = _keyring()
    try:
        info = ring.revoke(args.key_id)
    except (InvalidInput, NotFound) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(
        f"revoked {info.key_id} (role {info.role}); running services refuse it within "
        f"{Settings().auth_cache_s:g} s",
        file=sys.stderr,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nbo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--demo", action="store_true", help="seed a demo catalogue and customers")
    serve.add_argument("--no-learner", action="store_true", help="learners run as own processes")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(func=_serve)
    learner = sub.add_parser("learner", help="run a learner process")
    learner.add_argument("--consumer", default="learner-0")
    learner.set_defaults(func=_learner)
    archiver = sub.add_parser(
        "archiver", help="run an extra SQL archiver (the active learner runs one already)"
    )
    archiver.add_argument(
        "--consumer", required=True, help="a stable name: a restart resumes its pending entries"
    )
    archiver.set_defaults(func=_archiver)
    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create an API key with a role")
    create.add_argument("--role", required=True)
    create.set_defaults(func=_keys_create)
    listing = keys_sub.add_parser("list", help="list keys: id, role, created, revoked")
    listing.add_argument("--active", action="store_true", help="leave revoked keys out")
    listing.add_argument("--json", action="store_true", help="one JSON array")
    listing.set_defaults(func=_keys_list)
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its id (see keys list)")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=_keys_revoke)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
