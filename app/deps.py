"""FastAPI dependencies: the runtime's parts, and the role check (the only HTTPException raiser).

A request authenticates with ``Authorization: Bearer <key>`` (every API client) or with the
session cookie the pages get from ``POST /v1/session``. A cookie is sent by the browser on its own,
so a request authenticated by it with an unsafe method (POST, PUT, PATCH, DELETE) must also carry
the session's CSRF token in ``X-CSRF-Token``: a page on another site cannot read that token.

Every dependency here is ``async def`` and does no blocking work on the hot path: FastAPI runs a
plain ``def`` dependency in a worker thread, and each such hop cost a decision more CPU than the
Redis read (bench/load.py profile). A key goes to a thread (it may query SQL) only when the key
ring has no fresh answer for it.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from decisioning import Decider, SqlCatalogue

from .auth import Identity, KeyRing, Session, SessionSigner
from .runtime import Runtime

__all__ = [
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "AuthDep",
    "DeciderDep",
    "RuntimeDep",
    "SECURITY",
    "SessionsDep",
    "SqlCatalogueDep",
    "admit_to_route",
    "authenticate",
    "caller_role",
    "put_responses",
    "require_role",
]

SESSION_COOKIE = "nbo_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_bearer = HTTPBearer(auto_error=False, description="An nbo API key")
_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="The pages' session (POST /v1/session); unsafe methods also need X-CSRF-Token",
)


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_decider(request: Request) -> Decider:
    # from the request, not through RuntimeDep: each nested dependency costs FastAPI's resolver
    # time on every decision
    decider: Decider = request.app.state.runtime.decider
    return decider


async def get_sql_catalogue(runtime: RuntimeDep) -> SqlCatalogue:
    return runtime.catalogue.source


async def get_sessions(request: Request) -> SessionSigner:
    signer: SessionSigner = request.app.state.sessions
    return signer


DeciderDep = Annotated[Decider, Depends(get_decider)]
SqlCatalogueDep = Annotated[SqlCatalogue, Depends(get_sql_catalogue)]
SessionsDep = Annotated[SessionSigner, Depends(get_sessions)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


async def session_of(keyring: KeyRing, signer: SessionSigner, cookie: str) -> Session | None:
    """The valid session in ``cookie``: signed by us, not expired, its key not revoked."""
    session = signer.read(cookie)
    if session is None:
        return None
    identity = await asyncio.to_thread(keyring.identity_of, session.key_id)
    return session if identity is not None and identity.role == session.role else None


_BACKGROUND: set[asyncio.Task[None]] = set()
"""Refreshes under way (the event loop keeps only weak references to tasks)."""


def _in_background(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(work)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


async def authenticate(
    request: Request,
    signer: SessionsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> Identity:
    """Who is calling: a Bearer key, else a session cookie (with its CSRF token when unsafe)."""
    runtime: Runtime = request.app.state.runtime
    if credentials is not None and credentials.credentials:
        keyring, key = runtime.keyring, credentials.credentials
        known, identity = keyring.identify_from_cache(key)
        if not known:
            identity = await asyncio.to_thread(keyring.identify, key)
        elif keyring.claim_refresh(key):
            _in_background(asyncio.to_thread(keyring.refresh, key))
        if identity is None:
            raise _unauthorized("unknown or revoked API key")
        return identity
    if cookie:
        session = await session_of(runtime.keyring, signer, cookie)
        if session is None:
            raise _unauthorized("the session has expired or its key was revoked: sign in again")
        if request.method not in SAFE_METHODS:
            token = request.headers.get(CSRF_HEADER, "")
            if not token or not hmac.compare_digest(token.encode(), session.csrf.encode()):
                raise HTTPException(
                    403, f"missing or wrong {CSRF_HEADER} header (needed with a session cookie)"
                )
        return Identity(session.key_id, session.role)
    raise _unauthorized("missing API key: send Authorization: Bearer <key>")


AuthDep = Annotated[Identity, Depends(authenticate)]


def _admit(identity: Identity, roles: tuple[str, ...]) -> str:
    if identity.role != "admin" and identity.role not in roles:
        raise HTTPException(
            403, f"role {identity.role!r} may not do this; needs {' or '.join(roles)}"
        )
    return identity.role


_ROLES_OF: dict[Callable[..., Any], tuple[str, ...]] = {}
"""Every role check made here, with the roles it admits: :func:`admit_to_route` finds a route's."""


def require_role(*roles: str) -> Callable[..., Coroutine[Any, Any, str]]:
    """A dependency that admits a key with one of ``roles`` (admin is always admitted)."""

    async def check(identity: AuthDep) -> str:
        return _admit(identity, roles)

    _ROLES_OF[check] = roles
    return check


async def admit_to_route(request: Request) -> None:
    """The role check of the route ``request`` matched, run on its own (raises 401 or 403).

    FastAPI parses a JSON body before it runs the route's dependencies, so a body that is not
    JSON would be answered 422 before the key is looked at. The error handlers call this first:
    a caller without a valid key learns that (401), and nothing about the route's input.
    """
    dependant = getattr(request.scope.get("route"), "dependant", None)
    roles = _route_roles(dependant)
    if roles is None:
        return
    identity = await authenticate(
        request, request.app.state.sessions, await _bearer(request), await _cookie(request)
    )
    _admit(identity, roles)


def _route_roles(dependant: Any) -> tuple[str, ...] | None:
    for sub in getattr(dependant, "dependencies", ()):
        roles = _ROLES_OF.get(sub.call) if sub.call is not None else None
        if roles is None:
            roles = _route_roles(sub)
        if roles is not None:
            return roles
    return None


SECURITY: dict[str, Any] = {"security": [{_bearer.scheme_name: []}, {_cookie.scheme_name: []}]}
"""The OpenAPI ``security`` of an operation authenticated by :func:`caller_role` (the one
:func:`require_role` gets from its Bearer and cookie schemes): ``openapi_extra=SECURITY``."""


def caller_role(*roles: str) -> Callable[[Request], Coroutine[Any, Any, str]]:
    """:func:`require_role` as one dependency, for the routes every interaction calls.

    FastAPI resolves each dependency of a request with its own overhead, and the role check's
    tree is five (the check, ``authenticate``, the session signer, the Bearer and the cookie
    schemes): a third of a decision's HTTP layer (bench/decision_cpu.py). This runs the same
    schemes and checks in the same order, with the same errors, as one; the route declares the
    OpenAPI security the schemes would have added with ``openapi_extra=SECURITY``.
    """

    async def check(request: Request) -> str:
        identity = await authenticate(
            request, request.app.state.sessions, await _bearer(request), await _cookie(request)
        )
        return _admit(identity, roles)

    _ROLES_OF[check] = roles
    return check


def put_responses(model: type) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI answers of a PUT that creates (201, with the resource) or replaces (200)."""
    return {200: {"description": "replaced"}, 201: {"model": model, "description": "created"}}
