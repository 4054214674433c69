"""Errors of the Redis layer; redis-py's own exceptions never leave this package.

::

    StoreError
    ├── StoreUnavailable   (connection refused or lost)
    └── StoreTimeout       (the server did not answer in time)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis.exceptions

__all__ = ["StoreError", "StoreTimeout", "StoreUnavailable", "map_redis_errors"]


class StoreError(Exception):
    """Something went wrong talking to Redis."""


class StoreUnavailable(StoreError):
    pass


class StoreTimeout(StoreError):
    pass


_MAPPING: tuple[tuple[type[Exception], type[StoreError]], ...] = (
    (redis.exceptions.TimeoutError, StoreTimeout),
    (redis.exceptions.ConnectionError, StoreUnavailable),
    (redis.exceptions.RedisError, StoreError),
    (redis.exceptions.RedisClusterException, StoreError),
    (OSError, StoreUnavailable),
)


@contextmanager
def map_redis_errors() -> Iterator[None]:
    """Translate redis-py exceptions into :class:`StoreError` subclasses (most specific first)."""
    try:
        yield
    except StoreError:
        raise
    except Exception as exc:
        for source, target in _MAPPING:
            if isinstance(exc, source):
                raise target(str(exc) or source.__name__) from exc
        raise
