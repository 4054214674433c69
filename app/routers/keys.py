"""``/v1/keys``: API keys, for admins. A key is shown once, when it is made; never again."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from ..auth import KeyInfo
from ..deps import RuntimeDep, require_role
from ..schemas import Strict

router = APIRouter(prefix="/v1/keys", tags=["keys"], dependencies=[Depends(require_role("admin"))])

KeyId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$")]
Role = Literal["channel", "web", "marketer", "analyst", "admin"]


class KeyBody(Strict):
    role: Role


class KeyView(BaseModel):
    key_id: str
    role: str
    created_at: datetime | None
    revoked: bool


class NewKeyView(KeyView):
    key: str
    """The key itself: shown only in this answer; nbo keeps its hash."""


def _view(info: KeyInfo) -> KeyView:
    return KeyView(
        key_id=info.key_id, role=info.role, created_at=info.created_at, revoked=info.revoked
    )


@router.get("", response_model=list[KeyView])
async def list_keys(runtime: RuntimeDep) -> list[KeyView]:
    return [_view(info) for info in await asyncio.to_thread(runtime.keyring.list)]


@router.post("", status_code=201, response_model=NewKeyView)
async def create_key(body: KeyBody, runtime: RuntimeDep) -> NewKeyView:
    key_id, key = await asyncio.to_thread(runtime.keyring.create, body.role)
    info = await asyncio.to_thread(runtime.keyring.get, key_id)
    return NewKeyView(**_view(info).model_dump(), key=key)


@router.delete("/{key_id}", response_model=KeyView)
async def revoke_key(key_id: KeyId, runtime: RuntimeDep) -> KeyView:
    """Revoke the key (its sessions end too); every worker refuses it within NBO_AUTH_CACHE_S."""
    return _view(await asyncio.to_thread(runtime.keyring.revoke, key_id))
