"""nbo's HTTP service: FastAPI app, settings, auth, CLI. Everything else is wired from here."""

from __future__ import annotations

from .main import create_app
from .settings import Settings, get_settings

__all__ = ["Settings", "create_app", "get_settings"]
