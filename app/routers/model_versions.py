"""``/v1/models``: the published model versions, and rollback by pinning one."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from decisioning import InvalidInput

from ..deps import RuntimeDep, require_role

router = APIRouter(prefix="/v1/models", tags=["models"])


class PinBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    version: int = Field(ge=1, le=2**31 - 1)


async def _state(runtime: RuntimeDep) -> dict[str, Any]:
    models = runtime.store.models
    return {
        "serving_version": runtime.model.version,
        "latest_version": await models.latest_version(),
        "pinned_version": await models.pinned_version(),
        "versions": await asyncio.to_thread(runtime.registry.recent, 50),
    }


@router.get("", dependencies=[Depends(require_role("analyst"))])
async def list_versions(runtime: RuntimeDep) -> dict[str, Any]:
    return await _state(runtime)


@router.post("/rollback", dependencies=[Depends(require_role("admin"))])
async def rollback(body: PinBody, runtime: RuntimeDep) -> dict[str, Any]:
    """Serve an earlier version on every worker until ``DELETE /v1/models/pin``."""
    if await runtime.store.models.load_snapshot(body.version) is None:
        raise InvalidInput("version", f"snapshot {body.version} is not kept (any more)")
    await runtime.store.models.pin(body.version)
    await runtime.refresh()
    return await _state(runtime)


@router.delete("/pin", dependencies=[Depends(require_role("admin"))])
async def unpin(runtime: RuntimeDep) -> dict[str, Any]:
    """Go back to serving the newest version the learner publishes."""
    await runtime.store.models.pin(None)
    await runtime.refresh()
    return await _state(runtime)
