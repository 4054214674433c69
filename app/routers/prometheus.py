"""``GET /metrics``: Prometheus text for operators (no API key, like /healthz)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from feature_store import StoreError

from ..deps import RuntimeDep
from ..observability import CONTENT_TYPE_LATEST, render

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response)
async def prometheus_metrics(runtime: RuntimeDep) -> Response:
    try:
        lag: int | None = await runtime.store.outcome_stream().lag()
    except StoreError:
        lag = None
    body = render(
        learner_lag=lag,
        model_version=runtime.model.version,
        catalogue_version=runtime.catalogue.version,
    )
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
