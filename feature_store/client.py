"""Build the async Redis client: one place that knows about pools and Redis Cluster."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

__all__ = ["RedisClient", "connect", "is_cluster"]

RedisClient = aioredis.Redis


def connect(
    url: str, *, cluster: bool = False, max_connections: int = 64, timeout_s: float = 1.0
) -> Any:
    """A client for ``url``. A bounded, blocking pool: redis-py's default raises past its limit."""
    if cluster:
        return RedisCluster.from_url(url, max_connections=max_connections, socket_timeout=timeout_s)
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=min(timeout_s, 0.5),
    )
    return aioredis.Redis(connection_pool=pool)


def is_cluster(client: Any) -> bool:
    """Whether ``client`` talks to a Redis Cluster: then a command or script spans one slot."""
    return isinstance(client, RedisCluster)
