"""The only place where errors become HTTP responses: ``{error, field, detail}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from decisioning import Conflict, DecisionError, InvalidInput, NotFound, Unavailable
from feature_store import StoreError

from .observability import ERRORS

__all__ = ["install_error_handlers"]

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
    """``("body", "eligibility", 0, "op")`` -> ``eligibility[0].op``, as domain errors name it."""
    field = ""
    for part in loc:
        if part in ("body", "query", "path", "header") and not field:
            continue
        if isinstance(part, int):
            field += f"[{part}]"
        else:
            field += f".{part}" if field else str(part)
    return field or str(loc[0] if loc else "body")


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    ERRORS.labels("422").inc()
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
    field = _field_of(tuple(first.get("loc", ())))
    if first.get("type") == "json_invalid":
        field = "body"
    problems = [
        {"field": _field_of(tuple(e.get("loc", ()))), "problem": e.get("msg", "")} for e in errors
    ]
    message = f"{field}: {first.get('msg', 'invalid')}"
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


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    ERRORS.labels(str(exc.status_code)).inc()
    names = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}
    return JSONResponse(
        status_code=exc.status_code,
        content=_body(names.get(exc.status_code, "error"), None, exc.detail),
        headers=getattr(exc, "headers", None),
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(DecisionError, _domain)
    app.add_exception_handler(StoreError, _domain)
