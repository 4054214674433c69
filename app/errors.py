"""The only place where errors become HTTP responses: ``{error, field, detail}``.

Database failures (connection refused or lost, pool exhausted, disk full) become 503 with the
database's own one-line reason and ``Retry-After``: the write did not happen and may be retried.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from decisioning import Conflict, DecisionError, InvalidInput, NotFound, Unavailable
from feature_store import StoreError

from .deps import admit_to_route
from .observability import ERRORS

__all__ = ["ERROR_RESPONSES", "ErrorView", "install_error_handlers"]


class ErrorView(BaseModel):
    """Every error answer: what went wrong, which field (when one is to blame), and why."""

    error: str
    field: str | None
    detail: Any
    problems: list[dict[str, Any]] | None = None
    """For invalid input: every problem found, ``{field, problem}`` (at most 20)."""


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorView, "description": description}
    for status, description in (
        (401, "missing, unknown or revoked API key or session"),
        (403, "the key's role may not do this (or a missing CSRF token)"),
        (404, "not found"),
        (409, "conflicts with what is stored"),
        (413, "body larger than NBO_MAX_BODY_BYTES"),
        (422, "invalid input: names the field and the problem"),
        (503, "a store is unreachable; retry after Retry-After seconds"),
    )
}
"""Declared on every ``/v1`` operation, so the OpenAPI document describes real error bodies."""

_STATUS: tuple[tuple[type[Exception], int, str], ...] = (
    (NotFound, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (InvalidInput, 422, "invalid_input"),
    (Unavailable, 503, "unavailable"),
    (StoreError, 503, "unavailable"),
    (DecisionError, 400, "bad_request"),
)


def _body(error: str, field: str | None, detail: Any) -> dict[str, Any]:
    return {"error": error, "field": field, "detail": detail}


def _field_of(loc: tuple[Any, ...]) -> str:
    """``("body", "eligibility", 0, "op")`` -> ``eligibility[0].op``, as domain errors name it;
    a bad key of a map is named by itself (``features.bad key``), not ``features.bad key.[key]``.
    """
    field = ""
    for part in loc:
        if part in ("body", "query", "path", "header") and not field:
            continue
        if part == "[key]":
            continue
        if isinstance(part, int):
            field += f"[{part}]"
        else:
            field += f".{part}" if field else str(part)
    return field or str(loc[0] if loc else "body")


def _problem_of(error: Any) -> str:
    problem = str(error.get("msg", "invalid"))
    loc = error.get("loc", ())
    return f"the key is invalid: {problem}" if loc and loc[-1] == "[key]" else problem


_DATABASE_ERRORS = (OperationalError, InterfaceError, PoolTimeout)

_UNREADABLE_BODY = "There was an error parsing the body"
"""FastAPI's 400 for a body ``json.loads`` cannot even decode (not UTF-8, UTF-16 or UTF-32)."""


async def _unauthorised(request: Request) -> JSONResponse | None:
    """The answer to a request without a valid key for its route, if so: it comes before any
    word about the body (see :func:`app.deps.admit_to_route`)."""
    try:
        await admit_to_route(request)
    except StarletteHTTPException as exc:
        return await _http(request, exc)
    except (DecisionError, StoreError) as exc:  # a key not in the cache, and SQL down
        return await _domain(request, exc)
    except _DATABASE_ERRORS as exc:
        return await _database(request, exc)
    return None


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    refused = await _unauthorised(request)
    if refused is not None:
        return refused
    ERRORS.labels("422").inc()
    errors = exc.errors()
    first: dict[str, Any] = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
    field = _field_of(tuple(first.get("loc", ())))
    problems = [
        {"field": _field_of(tuple(e.get("loc", ()))), "problem": _problem_of(e)}
        for e in errors or [first]
    ]
    if first.get("type") == "json_invalid":  # its loc is ("body", <character>), not a field
        field = "body"
        loc, reason = first.get("loc", ()), (first.get("ctx") or {}).get("error")
        where = f" at character {loc[-1]}" if loc and isinstance(loc[-1], int) else ""
        problems = [{"field": "body", "problem": f"not valid JSON{where}: {reason or 'invalid'}"}]
    message = f"{field}: {problems[0]['problem']}"
    return JSONResponse(
        status_code=422,
        content=_body("invalid_input", field, message) | {"problems": problems[:20]},
    )


async def _domain(_: Request, exc: Exception) -> JSONResponse:
    for kind, status, name in _STATUS:
        if isinstance(exc, kind):
            headers = {"Retry-After": "1"} if status == 503 else None
            ERRORS.labels(str(status)).inc()
            field = getattr(exc, "field", None)
            return JSONResponse(
                status_code=status, content=_body(name, field, str(exc)), headers=headers
            )
    raise exc


async def _database(_: Request, exc: Exception) -> JSONResponse:
    ERRORS.labels("503").inc()
    reason = str(getattr(exc, "orig", None) or exc.__class__.__name__).strip().splitlines()
    detail = (
        "the database is unavailable, nothing was written; retry later "
        f"(decisions go on from the cached catalogue): {reason[0] if reason else 'unknown'}"
    )
    return JSONResponse(
        status_code=503,
        content=_body("database_unavailable", None, detail),
        headers={"Retry-After": "5"},
    )


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _UNREADABLE_BODY:
        refused = await _unauthorised(request)
        if refused is not None:
            return refused
        ERRORS.labels("422").inc()  # as any other body that is not JSON
        detail = "body: not JSON text (a JSON body is UTF-8 encoded)"
        problems = [{"field": "body", "problem": "not JSON text (a JSON body is UTF-8 encoded)"}]
        return JSONResponse(
            status_code=422,
            content=_body("invalid_input", "body", detail) | {"problems": problems},
        )
    ERRORS.labels(str(exc.status_code)).inc()
    detail = exc.detail
    if exc.status_code == 404 and detail == "Not Found":  # no route matched the path
        detail = (
            f"no endpoint at {request.method} {request.url.path} (see /docs; an id in a path "
            "holds only A-Z a-z 0-9 _ . : @ -)"
        )
    names = {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
    }
    field = "body" if exc.status_code in (400, 413) else None
    return JSONResponse(
        status_code=exc.status_code,
        content=_body(names.get(exc.status_code, "error"), field, detail),
        headers=getattr(exc, "headers", None),
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(DecisionError, _domain)
    app.add_exception_handler(StoreError, _domain)
    for database_error in _DATABASE_ERRORS:
        app.add_exception_handler(database_error, _database)
