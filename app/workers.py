"""Worker processes that each listen on their own socket (``SO_REUSEPORT``), so that the kernel
spreads new connections evenly over them.

uvicorn's supervisor gives every worker the same listening socket, and the worker whose event
loop wakes first accepts every connection waiting: a client opening 100 keep-alive connections
at once had them split 27/73, 29/71, 23/77 between two workers (``ss -tnp``, ``bench/load.py``'s
open-loop client). Each connection then stays with its worker, so one worker served three
requests in four, and at half the service's maximum rate it queued while the other idled. With
a socket each, bound to the same port with ``SO_REUSEPORT``, Linux picks the socket by a hash of
the connection: splits of about 50/50 (binomially: 45/55 is typical for 100).

Only on Linux: elsewhere ``SO_REUSEPORT`` does not balance (on macOS the newest socket gets every
connection), and ``nbo serve`` keeps uvicorn's shared socket.

The supervision is uvicorn's (:class:`uvicorn.supervisors.Multiprocess`: health checks, a dead
worker replaced, SIGHUP restarts); only which socket a new worker gets is changed: the one of the
worker it replaces.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

import uvicorn
from uvicorn import Config
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

__all__ = ["OneSocketEach", "balanced_sockets", "balances", "serve"]


def serve(app: str, **options: Any) -> None:
    """``uvicorn.run(app, **options)``, with a socket per worker where that balances."""
    workers = int(options.get("workers") or 1)
    if workers > 1 and balances():
        config = Config(app, **options)
        OneSocketEach(config, balanced_sockets(config, workers)).run()
    else:
        uvicorn.run(app, **options)


def balances() -> bool:
    """Whether ``SO_REUSEPORT`` spreads connections over sockets here (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def balanced_sockets(config: Config, count: int) -> list[socket.socket]:
    """``count`` listening sockets on ``config``'s host and port, all with ``SO_REUSEPORT``.

    With port 0, the first binds an ephemeral port and the others bind that one.
    """
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    port = config.port
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((config.host, port))
            sock.listen(config.backlog)
            sock.set_inheritable(True)
            port = sock.getsockname()[1]
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class OneSocketEach(Multiprocess):
    """uvicorn's supervisor, the worker of slot ``n`` on ``sockets[n]`` (see the module)."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self.processes_num = len(sockets)

    def _start(self, slot: int) -> Process:
        process = Process(self.config, [self.sockets[slot]])
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self._start(slot) for slot in range(self.processes_num)]

    def restart_all(self) -> None:
        """Each worker replaced by one on its socket, ready before the old one is retired."""
        for slot, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._start(slot)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                return
            old.terminate()
            old.join()
            self.processes[slot] = new

    def keep_subprocess_alive(self) -> None:
        """A dead or hung worker is replaced by one on its socket (as uvicorn does, with the
        same shared socket); a worker that failed to start stops the service."""
        if self.should_exit.is_set():
            return
        for slot, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            self.processes[slot] = self._start(slot)
