"""The FastAPI application: wiring only. ``create_app()`` is what uvicorn runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi.telemetry import TelemetryConfig

from decisioning import InvalidInput

from .auth import SessionSigner, install_log_redaction
from .blas import limit_blas_threads
from .collector import settle_heap, tune_collector
from .deps import AuthDep
from .errors import ERROR_RESPONSES, ErrorView, install_error_handlers
from .limits import LimitsMiddleware
from .memory import limit_malloc_arenas
from .routers import (
    customers,
    decisions,
    events,
    export,
    health,
    keys,
    metrics,
    model_versions,
    offers,
    outbound,
    policies,
    prometheus,
    session,
    triggers,
)
from .runtime import Runtime
from .settings import Settings, get_settings
from .web import install_web

__all__ = ["create_app"]


def _operation_id(route: APIRoute) -> str:
    return f"{route.tags[0] if route.tags else 'nbo'}-{route.name}"


def _feature_limit(settings: Settings) -> Any:
    """A check of ``PUT /v1/customers/{id}``: at most ``max_features`` features per customer
    (run after auth, before the body is validated; FastAPI has parsed the JSON already)."""

    async def check(request: Request, identity: AuthDep) -> None:
        if request.method != "PUT" or identity.role not in ("channel", "marketer", "admin"):
            return  # other roles get their 403 from the route itself
        try:
            body = await request.json()
        except ValueError:
            return  # the body's own validation names the problem
        features = body.get("features") if isinstance(body, dict) else None
        if isinstance(features, dict) and len(features) > settings.max_features:
            raise InvalidInput(
                "features",
                f"{len(features)} features; a customer may have at most "
                f"{settings.max_features} (NBO_MAX_FEATURES)",
            )

    return check


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with our error body (``ErrorView``) on every ``/v1`` operation
    instead of FastAPI's default 422 shape, which nbo never sends."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        routes=app.routes,
    )
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/v1"):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status in ERROR_RESPONSES:
                entry = responses.setdefault(str(status), {})
                entry.setdefault("description", ERROR_RESPONSES[status]["description"])
                entry["content"] = {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorView"}}
                }
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    components["ErrorView"] = ErrorView.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    app.openapi_schema = schema
    return schema


_NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
"""FastAPI's native OpenTelemetry off (``NBO_OPENTELEMETRY``)."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    limit_malloc_arenas(settings.malloc_arenas)  # before any thread: each worker calls this
    limit_blas_threads(settings.blas_threads)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install_log_redaction(settings.effective_admin_key())
        tune_collector(settings.gc_young)
        runtime = await Runtime.open(settings)
        runtime.keyring.ttl_s = settings.auth_cache_s
        runtime.keyring.stale_s = settings.auth_stale_s
        app.state.sessions = SessionSigner(
            settings.session_secret or settings.effective_admin_key(),
            ttl_s=settings.session_ttl_s,
        )
        runtime.start_background(learner=settings.embedded_learner)
        app.state.runtime = runtime
        if settings.gc_freeze:
            settle_heap()  # what startup built lives as long as the worker
        try:
            yield
        finally:
            await runtime.close()

    app = FastAPI(
        title="nbo",
        summary="Real-time next-best-offer decisions that learn from every response.",
        version="0.1.0",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        responses={},
        telemetry=None if settings.opentelemetry else _NO_TELEMETRY,
    )
    install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    # outermost: refuse oversized or absurdly nested bodies before anything reads them
    app.add_middleware(
        LimitsMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_json_depth=settings.max_json_depth,
    )
    # the decisions router first: every interaction calls it, and FastAPI matches a request
    # against the included routers in order (bench/decision_cpu.py: the HTTP layer of a
    # decision 60 -> 53 µs of CPU)
    for module in (
        decisions,
        offers,
        events,
        triggers,
        outbound,
        policies,
        metrics,
        model_versions,
        export,
        keys,
        session,
        health,
        prometheus,
    ):
        app.include_router(module.router)
    app.include_router(customers.router, dependencies=[Depends(_feature_limit(settings))])
    install_web(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app
