"""The FastAPI application: wiring only. ``create_app()`` is what uvicorn runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute

from .errors import install_error_handlers
from .routers import (
    customers,
    decisions,
    events,
    export,
    health,
    metrics,
    model_versions,
    offers,
    outbound,
    policies,
    prometheus,
    triggers,
)
from .runtime import Runtime
from .settings import Settings, get_settings
from .web import install_web

__all__ = ["create_app"]


def _operation_id(route: APIRoute) -> str:
    return f"{route.tags[0] if route.tags else 'nbo'}-{route.name}"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await Runtime.open(settings)
        runtime.start_background(learner=settings.embedded_learner)
        app.state.runtime = runtime
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
    for module in (
        offers,
        customers,
        decisions,
        events,
        triggers,
        outbound,
        policies,
        metrics,
        model_versions,
        export,
        health,
        prometheus,
    ):
        app.include_router(module.router)
    install_web(app)
    return app
