"""The HTML pages: static files whose scripts call the ``/v1`` API with the user's session."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

__all__ = ["STATIC_DIR", "router"]

STATIC_DIR = Path(__file__).resolve().parent / "static"

router = APIRouter(include_in_schema=False, tags=["pages"])

_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC_DIR / name, media_type="text/html", headers=_HEADERS)


@router.get("/dashboard")
async def dashboard() -> FileResponse:
    """Analysts: acceptance over time, lift over the control group, calibration, drivers."""
    return _page("dashboard.html")


@router.get("/agent")
async def agent() -> FileResponse:
    """Call-centre agents: find the customer, show the next best actions, record the answer."""
    return _page("agent.html")


@router.get("/demo/web")
async def demo_web() -> FileResponse:
    """A demo shop that embeds ``/static/nbo-offers.js``, as any website would."""
    return _page("demo-web.html")
