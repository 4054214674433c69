"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from ..deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


# HEAD too, as load balancers and uptime checkers often probe with it (it was 405, "down")
router.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)


def _database_ok(runtime: Any) -> bool:
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means not ready
        return False


@router.get("/readyz")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    redis_ok = await runtime.store.ping()
    database_ok = await asyncio.to_thread(_database_ok, runtime)
    ready = redis_ok and database_ok
    return JSONResponse(
        status_code=200 if ready else 503,
        content={
            "status": "ready" if ready else "not_ready",
            "redis": "ok" if redis_ok else "unavailable",
            "database": "ok" if database_ok else "unavailable",
            "model_version": runtime.model.version,
            "catalogue_version": runtime.catalogue.version,
        },
    )


router.add_api_route("/readyz", readyz, methods=["HEAD"], include_in_schema=False)
