"""FastAPI dependencies: the runtime's parts, and the role check (the only HTTPException raiser).

Every dependency here is ``async def`` and does no blocking work on the hot path: FastAPI runs a
plain ``def`` dependency in a worker thread, and each such hop cost a decision more CPU than the
Redis read (bench/load.py profile). A role lookup goes to a thread (it may query SQL) only when
the key is not in this process's short-lived cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import weakref
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from decisioning import Decider, SqlCatalogue

from .auth import KeyRing
from .runtime import Runtime

__all__ = ["DeciderDep", "RuntimeDep", "SqlCatalogueDep", "require_role"]

_bearer = HTTPBearer(auto_error=False, description="An nbo API key")


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_decider(request: Request) -> Decider:
    # from the request, not through RuntimeDep: each nested dependency costs FastAPI's resolver
    # time on every decision
    decider: Decider = request.app.state.runtime.decider
    return decider


async def get_sql_catalogue(runtime: RuntimeDep) -> SqlCatalogue:
    return runtime.catalogue.source


DeciderDep = Annotated[Decider, Depends(get_decider)]
SqlCatalogueDep = Annotated[SqlCatalogue, Depends(get_sql_catalogue)]


ROLE_CACHE_S = 1.0
"""How long a worker trusts a role it looked up (the key ring's own SQL cache adds up to 5 s more,
so a revoked key stops working within about 6 s)."""

_roles: weakref.WeakKeyDictionary[KeyRing, dict[str, tuple[str | None, float]]] = (
    weakref.WeakKeyDictionary()
)
"""Per key ring (one per running app), SHA-256 of a key -> (role, when looked up)."""


async def _role_of(runtime: Runtime, key: str) -> str | None:
    """The key's role, from this process's cache when fresh, else from the key ring (a thread)."""
    roles = _roles.setdefault(runtime.keyring, {})
    digest = hashlib.sha256(key.encode()).hexdigest()
    now = time.monotonic()
    cached = roles.get(digest)
    if cached is not None and now - cached[1] < ROLE_CACHE_S:
        return cached[0]
    role = await asyncio.to_thread(runtime.keyring.role_of, key)
    if len(roles) > 10_000:
        roles.clear()
    roles[digest] = (role, now)
    return role


def require_role(*roles: str) -> Callable[..., Coroutine[Any, Any, str]]:
    """A dependency that admits a Bearer key with one of ``roles`` (admin is always admitted)."""

    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> str:
        if credentials is None or not credentials.credentials:
            raise HTTPException(
                401,
                "missing API key: send Authorization: Bearer <key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        role = await _role_of(request.app.state.runtime, credentials.credentials)
        if role is None:
            raise HTTPException(
                401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"}
            )
        if role != "admin" and role not in roles:
            raise HTTPException(403, f"role {role!r} may not do this; needs {' or '.join(roles)}")
        return role

    return check
