"""A real three-master Redis Cluster for the tests, from the bundled ``redis-server`` binary.

Each node runs in cluster mode on a free port; slots are split in three and the nodes MEET, as
``redis-cli --cluster create`` would do, and the fixture waits until every node says ``ok``.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from feature_store.server import BundledRedis, start_bundled_redis

SLOTS = 16384


def _cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too; both below 65536."""
    for _ in range(200):
        port = random.randint(20000, 30000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


@contextmanager
def redis_cluster(base: Path, masters: int = 3) -> Iterator[str]:
    """Start the cluster; yields a URL naming its first node (any node will do)."""
    nodes: list[BundledRedis] = []
    try:
        for n in range(masters):
            nodes.append(
                start_bundled_redis(
                    base / f"node{n}",
                    port=_cluster_port(),
                    persist=False,
                    extra=["--cluster-enabled", "yes", "--cluster-node-timeout", "3000"],
                )
            )
        clients = [redis.Redis(port=node.port) for node in nodes]
        for n, client in enumerate(clients):
            low, high = n * SLOTS // masters, (n + 1) * SLOTS // masters
            client.execute_command("CLUSTER ADDSLOTS", *range(low, high))
        for node in nodes[1:]:
            clients[0].execute_command("CLUSTER MEET", "127.0.0.1", node.port)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            infos = [c.cluster("INFO") for c in clients]
            if all(
                i["cluster_state"] == "ok" and int(i["cluster_known_nodes"]) == masters
                for i in infos
            ):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"the test Redis Cluster did not converge: {infos}")
        for client in clients:
            client.close()
        yield f"redis://127.0.0.1:{nodes[0].port}/0"
    finally:
        for node in nodes:
            node.stop()
