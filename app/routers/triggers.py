"""``/v1/triggers``: which events start an outbound decision, on which channel. Marketers own
them."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from decisioning import InvalidInput, OfferNotFound, SqlCatalogue, SqlTriggers

from ..deps import RuntimeDep, put_responses, require_role
from ..moments import moments_of
from ..runtime import Runtime
from ..schemas import ID_PATTERN, TriggerBody, TriggerView

router = APIRouter(prefix="/v1/triggers", tags=["triggers"])

TriggerId = Annotated[str, Path(min_length=1, max_length=128, pattern=ID_PATTERN)]
Marketer = Depends(require_role("marketer"))
Reader = Depends(require_role("marketer", "analyst"))


def _source(runtime: Runtime) -> SqlTriggers:
    return moments_of(runtime).triggers.source


def _check_offers(catalogue: SqlCatalogue, body: TriggerBody) -> None:
    """Every offer a trigger names exists and is offered on the trigger's channel."""
    for n, offer_id in enumerate(body.offers or ()):
        try:
            offer = catalogue.get(offer_id)
        except OfferNotFound as exc:
            raise InvalidInput(f"offers[{n}]", f"offer {offer_id!r} does not exist") from exc
        if body.channel not in (offer.get("channels") or ()):
            raise InvalidInput(
                f"offers[{n}]", f"offer {offer_id!r} is not offered on channel {body.channel!r}"
            )


@router.put(
    "/{trigger_id}",
    response_model=TriggerView,
    dependencies=[Marketer],
    responses=put_responses(TriggerView),
)
async def put_trigger(
    trigger_id: TriggerId, body: TriggerBody, runtime: RuntimeDep, response: Response
) -> TriggerView:
    await asyncio.to_thread(_check_offers, runtime.catalogue.source, body)
    created = await asyncio.to_thread(
        _source(runtime).put, trigger_id, body.model_dump(mode="json", exclude_none=True)
    )
    await runtime.catalogue_changed()  # every worker reloads its triggers with the catalogue
    response.status_code = 201 if created else 200
    return TriggerView(trigger_id=trigger_id, **body.model_dump())


@router.get("/{trigger_id}", response_model=TriggerView, dependencies=[Reader])
async def get_trigger(trigger_id: TriggerId, runtime: RuntimeDep) -> TriggerView:
    body = await asyncio.to_thread(_source(runtime).get, trigger_id)
    return TriggerView(trigger_id=trigger_id, **body)


@router.delete("/{trigger_id}", status_code=204, dependencies=[Marketer])
async def delete_trigger(trigger_id: TriggerId, runtime: RuntimeDep) -> None:
    await asyncio.to_thread(_source(runtime).delete, trigger_id)
    await runtime.catalogue_changed()


@router.get("", response_model=list[TriggerView], dependencies=[Reader])
async def list_triggers(runtime: RuntimeDep) -> list[TriggerView]:
    rows = await asyncio.to_thread(_source(runtime).all)
    return [TriggerView(trigger_id=trigger_id, **body) for trigger_id, body in rows]
