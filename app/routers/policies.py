"""``/v1/policies/contact``: the channel-wide contact policy, owned by marketers."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from decisioning.policies import SqlPolicies

from ..deps import RuntimeDep, require_role
from ..schemas import Name

router = APIRouter(prefix="/v1/policies", tags=["policies"])

Hour = Annotated[int, Field(ge=0, le=23)]


class ContactPolicyBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    outbound_channels: Annotated[list[Name], Field(max_length=20)] = ["email", "sms", "push"]
    outbound_limits: dict[Name, Annotated[int, Field(ge=0, le=1000)]] = {
        "email": 1, "sms": 1, "push": 2,
    }  # fmt: skip
    """Outbound contacts allowed per channel per window."""
    outbound_window_s: Annotated[int, Field(ge=3600, le=366 * 86400)] = 7 * 86400
    quiet_hours: Annotated[list[Hour], Field(min_length=2, max_length=2)] | None = [21, 8]
    """[start, end) local hours without outbound contact; null: none."""
    sensitive_interactions: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]],
        Field(max_length=20),
    ] = ["complaint", "event:complaint"]
    """Interactions in which sales offers are out (unless suitable) and nbo does not explore."""


def _policies(runtime: RuntimeDep) -> SqlPolicies:
    assert runtime.catalogue.policies is not None
    return runtime.catalogue.policies


@router.get("/contact", dependencies=[Depends(require_role("marketer", "analyst"))])
async def get_contact_policy(runtime: RuntimeDep) -> dict[str, Any]:
    policy = await asyncio.to_thread(_policies(runtime).contact)
    return policy.to_body()


@router.put("/contact", dependencies=[Depends(require_role("marketer"))])
async def put_contact_policy(body: ContactPolicyBody, runtime: RuntimeDep) -> dict[str, Any]:
    policy = await asyncio.to_thread(_policies(runtime).put_contact, body.model_dump())
    await runtime.catalogue_changed()
    return policy.to_body()
