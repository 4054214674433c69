"""``/v1/customers``: profiles (features and consent), their history, and erasure."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from decisioning import CustomerNotFound
from decisioning.aggregates import aggregate_features
from decisioning.erasure import erase_customer
from feature_store import StoreError

from ..deps import RuntimeDep, require_role
from ..schemas import ID_PATTERN, CustomerBody, CustomerView

router = APIRouter(prefix="/v1/customers", tags=["customers"])

CustomerId = Annotated[str, Path(min_length=1, max_length=128, pattern=ID_PATTERN)]


@router.put(
    "/{customer_id}",
    response_model=CustomerView,
    dependencies=[Depends(require_role("channel", "marketer"))],
)
async def put_customer(
    customer_id: CustomerId, body: CustomerBody, runtime: RuntimeDep
) -> CustomerView:
    """Replace the customer's features; their consent too when the body has it (without it, the
    consent given before stays, and the answer shows it)."""
    customers = runtime.store.customers
    await customers.put(customer_id, body.features, body.consent)
    consent = body.consent
    if consent is None:
        record = await customers.get(customer_id)
        consent = record.consent if record is not None else {}
    return CustomerView(customer_id=customer_id, features=body.features, consent=consent)


@router.get(
    "/{customer_id}",
    response_model=CustomerView,
    dependencies=[Depends(require_role("channel", "analyst", "marketer"))],
)
async def get_customer(customer_id: CustomerId, runtime: RuntimeDep) -> CustomerView:
    record = await runtime.store.customers.get(customer_id)
    if record is None or not (record.known or record.aggregates):
        raise CustomerNotFound(customer_id)
    aggregates = aggregate_features(record.aggregates, int(time.time() * 1000))
    return CustomerView(
        customer_id=customer_id,
        # the features a decision sees: an aggregate wins over a profile field of its name
        features={**record.features, **aggregates},
        consent=record.consent,
        aggregates=aggregates,
        value_tier=runtime.decider.tiers.of(record.features),
    )


@router.get("/{customer_id}/history", dependencies=[Depends(require_role("channel", "analyst"))])
async def customer_history(
    customer_id: CustomerId,
    runtime: RuntimeDep,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Newest first: the recent lines from Redis, then older ones from the SQL archive."""
    source = "redis+archive"
    try:
        recent = await runtime.store.customers.history_lines(customer_id)
    except StoreError:
        recent, source = [], "archive"  # Redis is down: the archive still answers
    items = await asyncio.to_thread(
        runtime.archive.history_page, customer_id, recent, offset=offset, limit=limit
    )
    return {
        "customer_id": customer_id,
        "offset": offset,
        "limit": limit,
        "items": items,
        "source": source,
    }


@router.delete("/{customer_id}", status_code=204, dependencies=[Depends(require_role("admin"))])
async def delete_customer(customer_id: CustomerId, runtime: RuntimeDep) -> None:
    """Erase features, consent, contacts, history (Redis and the SQL archive), aggregates, seen
    events, queued outbound and the logs of their decisions (a later outcome for one is 404);
    history lines still on their way to the archive are dropped."""
    now_ms = int(time.time() * 1000)
    if not await erase_customer(runtime.store, runtime.archive, customer_id, now_ms=now_ms):
        raise CustomerNotFound(customer_id)
