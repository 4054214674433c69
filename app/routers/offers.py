"""``/v1/offers``: the catalogue, owned by marketers."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from ..deps import RuntimeDep, SqlCatalogueDep, put_responses, require_role
from ..schemas import ID_PATTERN, OfferBody, OfferView

router = APIRouter(prefix="/v1/offers", tags=["offers"])

OfferId = Annotated[str, Path(min_length=1, max_length=128, pattern=ID_PATTERN)]
Marketer = Depends(require_role("marketer"))
Reader = Depends(require_role("marketer", "analyst"))


@router.put(
    "/{offer_id}",
    response_model=OfferView,
    dependencies=[Marketer],
    responses=put_responses(OfferView),
)
async def put_offer(
    offer_id: OfferId,
    body: OfferBody,
    runtime: RuntimeDep,
    catalogue: SqlCatalogueDep,
    response: Response,
) -> OfferView:
    created = await asyncio.to_thread(
        partial(catalogue.put, max_offers=runtime.settings.max_offers),
        offer_id,
        body.model_dump(mode="json"),
    )
    await runtime.catalogue_changed()
    response.status_code = 201 if created else 200
    return OfferView(offer_id=offer_id, **body.model_dump(mode="json"))


@router.get("/{offer_id}", response_model=OfferView, dependencies=[Reader])
async def get_offer(offer_id: OfferId, catalogue: SqlCatalogueDep) -> OfferView:
    body = await asyncio.to_thread(catalogue.get, offer_id)
    return OfferView(offer_id=offer_id, **body)


@router.delete("/{offer_id}", status_code=204, dependencies=[Marketer])
async def delete_offer(offer_id: OfferId, runtime: RuntimeDep, catalogue: SqlCatalogueDep) -> None:
    await asyncio.to_thread(catalogue.delete, offer_id)
    await runtime.catalogue_changed()


@router.get("", response_model=list[OfferView], dependencies=[Reader])
async def list_offers(catalogue: SqlCatalogueDep) -> list[OfferView]:
    rows = await asyncio.to_thread(catalogue.all)
    return [OfferView(offer_id=offer_id, **body) for offer_id, body in rows]
