"""``/v1/session``: the pages sign in with a key and get a session cookie (HttpOnly, SameSite
Strict, Secure over https) instead of keeping the key in the browser; ``DELETE`` signs out."""

from __future__ import annotations

import asyncio
import hmac
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Cookie, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..auth import Session
from ..deps import CSRF_HEADER, SESSION_COOKIE, RuntimeDep, SessionsDep, session_of
from ..schemas import Strict

router = APIRouter(prefix="/v1/session", tags=["session"])


class SignInBody(Strict):
    key: Annotated[str, Field(min_length=1, max_length=256)]


class SessionView(BaseModel):
    signed_in: bool
    key_id: str | None = None
    role: str | None = None
    csrf_token: str | None = None
    """Send it as ``X-CSRF-Token`` with every POST, PUT and DELETE made with the cookie."""
    expires_at: datetime | None = None


def _view(session: Session) -> SessionView:
    return SessionView(
        signed_in=True,
        key_id=session.key_id,
        role=session.role,
        csrf_token=session.csrf,
        expires_at=datetime.fromtimestamp(session.expires, UTC),
    )


def _secure(request: Request) -> bool:
    """Mark the cookie Secure when the page was reached over https (directly or via a proxy
    that uvicorn trusts with ``--proxy-headers``)."""
    return request.url.scheme == "https"


def _unauthorized(detail: str) -> JSONResponse:
    return JSONResponse(
        status_code=401, content={"error": "unauthorized", "field": None, "detail": detail}
    )


@router.post("", response_model=SessionView, responses={401: {"description": "unknown key"}})
async def sign_in(
    body: SignInBody,
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    signer: SessionsDep,
) -> SessionView | JSONResponse:
    identity = await asyncio.to_thread(runtime.keyring.identify, body.key)
    if identity is None:
        return _unauthorized("unknown or revoked API key")
    session, cookie = signer.issue(identity)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=signer.ttl_s,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return _view(session)


@router.get("", response_model=SessionView)
async def current(
    runtime: RuntimeDep,
    signer: SessionsDep,
    nbo_session: Annotated[str | None, Cookie(include_in_schema=False)] = None,
) -> SessionView:
    """The signed-in session (its CSRF token included), or ``signed_in: false``: what a page
    reads when it loads (a 200 either way, so a page that is not signed in logs no error)."""
    session = await session_of(runtime.keyring, signer, nbo_session) if nbo_session else None
    return _view(session) if session is not None else SessionView(signed_in=False)


@router.delete("", status_code=204)
async def sign_out(request: Request, signer: SessionsDep) -> Response:
    """Forget the cookie. With a valid session, the CSRF token is required (as for any write)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    session = signer.read(cookie) if cookie else None
    token = request.headers.get(CSRF_HEADER, "")
    if session is not None and not hmac.compare_digest(token.encode(), session.csrf.encode()):
        return JSONResponse(
            status_code=403,
            content={
                "error": "forbidden",
                "field": None,
                "detail": f"missing or wrong {CSRF_HEADER} header",
            },
        )
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request)
    )
    return response
