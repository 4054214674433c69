"""FastAPI dependencies: the runtime's parts, and the role check (the only HTTPException raiser)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from decisioning import Decider, SqlCatalogue

from .runtime import Runtime

__all__ = ["DeciderDep", "RuntimeDep", "SqlCatalogueDep", "require_role"]

_bearer = HTTPBearer(auto_error=False, description="An nbo API key")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_decider(runtime: RuntimeDep) -> Decider:
    return runtime.decider


def get_sql_catalogue(runtime: RuntimeDep) -> SqlCatalogue:
    return runtime.catalogue.source


DeciderDep = Annotated[Decider, Depends(get_decider)]
SqlCatalogueDep = Annotated[SqlCatalogue, Depends(get_sql_catalogue)]


def require_role(*roles: str) -> Callable[..., Coroutine[Any, Any, str]]:
    """A dependency that admits a Bearer key with one of ``roles`` (admin is always admitted)."""

    async def check(
        runtime: RuntimeDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> str:
        if credentials is None or not credentials.credentials:
            raise HTTPException(
                401,
                "missing API key: send Authorization: Bearer <key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        role = await asyncio.to_thread(runtime.keyring.role_of, credentials.credentials)
        if role is None:
            raise HTTPException(
                401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"}
            )
        if role != "admin" and role not in roles:
            raise HTTPException(403, f"role {role!r} may not do this; needs {' or '.join(roles)}")
        return role

    return check
