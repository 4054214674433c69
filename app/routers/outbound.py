"""``/v1/outbound``: the messages triggers queued, per channel, for people and for senders.

``GET`` shows the newest (claimed or not); real senders consume them as a group: ``claim``
delivers each message to one consumer, ``ack`` confirms it was sent. A message claimed and never
acknowledged can be taken over by another consumer (``reclaim_idle_s``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from feature_store import OutboundMessage

from ..deps import RuntimeDep, require_role
from ..schemas import NAME_PATTERN, AckBody, ClaimBody, OutboundListView, OutboundMessageView

router = APIRouter(prefix="/v1/outbound", tags=["outbound"])

Channel = Depends(require_role("channel"))
ChannelName = Annotated[str, Path(min_length=1, max_length=64, pattern=NAME_PATTERN)]


def _view(message: OutboundMessage) -> OutboundMessageView:
    return OutboundMessageView(id=message.stream_id, **message.fields)


@router.get("", response_model=OutboundListView, dependencies=[Channel])
async def recent(
    runtime: RuntimeDep,
    channel: Annotated[str, Query(min_length=1, max_length=64, pattern=NAME_PATTERN)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> OutboundListView:
    """The newest messages queued for ``channel``, newest first."""
    messages = await runtime.store.outbound.recent(channel, limit)
    return OutboundListView(channel=channel, messages=[_view(m) for m in messages])


@router.post("/{channel}/claim", response_model=OutboundListView, dependencies=[Channel])
async def claim(channel: ChannelName, body: ClaimBody, runtime: RuntimeDep) -> OutboundListView:
    """Deliver up to ``count`` messages to ``consumer`` (XREADGROUP); ack them once sent."""
    reclaim = None if body.reclaim_idle_s is None else body.reclaim_idle_s * 1000
    messages = await runtime.store.outbound.claim(
        channel, body.consumer, body.count, reclaim_idle_ms=reclaim
    )
    return OutboundListView(channel=channel, messages=[_view(m) for m in messages])


@router.post("/{channel}/ack", dependencies=[Channel])
async def ack(channel: ChannelName, body: AckBody, runtime: RuntimeDep) -> dict[str, Any]:
    """Confirm messages were sent (XACK); ``acked`` counts those that were pending."""
    acked = await runtime.store.outbound.ack(channel, body.ids)
    return {"channel": channel, "acked": acked}
