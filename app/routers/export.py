"""``/v1/export``: the interaction log and model snapshots as CSV or Parquet, for notebooks.

Columns are documented in :mod:`decisioning.export` and at ``GET /v1/export``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from decisioning import ModelVersionNotFound
from decisioning.archive import InteractionFilter
from decisioning.export import (
    INTERACTION_COLUMNS,
    MODEL_COLUMNS,
    interaction_table,
    model_table,
    to_csv,
    to_parquet,
)
from models import Snapshot, describe_token

from ..deps import RuntimeDep, require_role
from .metrics import to_ms

router = APIRouter(prefix="/v1/export", tags=["export"])

Format = Literal["csv", "parquet"]
MEDIA = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
MAX_ROWS = 1_000_000


def _file(table: dict[str, list[Any]], fmt: Format, name: str) -> Response:
    body = to_csv(table) if fmt == "csv" else to_parquet(table)
    return Response(
        body,
        media_type=MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
    )


@router.get("", dependencies=[Depends(require_role("analyst"))])
async def columns() -> dict[str, Any]:
    """What each exported column means."""
    return {"interactions": INTERACTION_COLUMNS, "model": MODEL_COLUMNS}


@router.get("/interactions", dependencies=[Depends(require_role("analyst"))])
async def export_interactions(
    runtime: RuntimeDep,
    format: Annotated[Format, Query()] = "csv",  # noqa: A002 - the public parameter name
    channel: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    offer_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    customer_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = MAX_ROWS,
) -> Response:
    """Archived interactions (one row per shown offer with its outcome), oldest first."""
    where = InteractionFilter(
        channel=channel,
        offer_id=offer_id,
        customer_id=customer_id,
        since_ms=to_ms(since),
        until_ms=to_ms(until),
    )

    def build() -> Response:
        rows = runtime.archive.interactions(where, limit=limit)
        return _file(interaction_table(rows), format, "interactions")

    return await asyncio.to_thread(build)


@router.get("/model", dependencies=[Depends(require_role("analyst"))])
async def export_model(
    runtime: RuntimeDep,
    format: Annotated[Format, Query()] = "csv",  # noqa: A002 - the public parameter name
    version: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """A snapshot's drivers: per offer, every context feature's effective weight."""
    snapshot = runtime.model.snapshot
    if version is not None and version != snapshot.version:
        data = await runtime.store.models.load_snapshot(version)
        if data is None:
            raise ModelVersionNotFound(version)
        snapshot = await asyncio.to_thread(Snapshot.from_bytes, data)
    offers = list(runtime.catalogue.offers)

    def build() -> Response:
        everything = len(snapshot.row_index)
        drivers = {
            o.offer_id: [
                (describe_token(t), t, w) for t, w in snapshot.drivers(o.example(), top=everything)
            ]
            for o in offers
        }
        return _file(model_table(snapshot.version, drivers), format, f"model-v{snapshot.version}")

    return await asyncio.to_thread(build)
