"""The web pages of nbo: the analysts' dashboard, the agent desktop and the embeddable offers.

The pages are static HTML, CSS and vanilla JavaScript (no build step, nothing from a CDN). They are
served without auth; in the browser they ask for an API key once and exchange it for a session
cookie (``POST /v1/session``: HttpOnly, SameSite=Strict, Secure over https), then call the ``/v1``
JSON API with that cookie and, for writes, the session's CSRF token in ``X-CSRF-Token``. The key is
not kept by the page. The embeddable snippet on other sites uses a ``web`` key as a Bearer token.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from .pages import STATIC_DIR, router

__all__ = ["install_web"]


def install_web(app: FastAPI) -> None:
    """Add the pages (``/dashboard``, ``/agent``, ``/demo/web``) and ``/static`` to ``app``.

    Calling it twice on the same app is harmless.
    """
    if getattr(app.state, "nbo_web_installed", False):
        return
    app.state.nbo_web_installed = True
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
