"""Browser tests of the web pages: a real nbo (uvicorn, Redis, SQL) and a real headless Chromium.

Chromium is Debian's (``apt-get install chromium``), driven by Playwright for Python; Playwright's
own browser download is never used. Screenshots go to ``$NBO_SCREENSHOTS`` (else a pytest temporary
folder); the folder is printed at the end of the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from app.demo import demo_customers, demo_offers
from tests.services import Service, run_service

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SEEDED_CUSTOMERS = 40

_screenshot_dir: list[Path] = []


@contextmanager
def serve_pages(
    redis_url: str, database_url: str, data_dir: Path, **overrides: Any
) -> Iterator[Service]:
    """An nbo (its pages included) from ``tests.services``, seeded with the demo catalogue."""
    with run_service(redis_url, database_url, data_dir, **overrides) as service:
        seed(service.client)
        yield service


def seed(client: httpx.Client) -> None:
    """The demo catalogue and the first demo customers, through the public API."""
    for offer in demo_offers():
        body = {k: v for k, v in offer.items() if k != "offer_id"}
        client.put(f"/v1/offers/{offer['offer_id']}", json=body).raise_for_status()
    for customer in demo_customers(SEEDED_CUSTOMERS):
        body = {"features": customer["features"], "consent": customer["consent"]}
        client.put(f"/v1/customers/{customer['customer_id']}", json=body).raise_for_status()
    # one worker: PUT /v1/offers refreshes its catalogue before answering


@pytest.fixture
def pages_service(redis_url: str, database_url: str, tmp_path: Path) -> Iterator[Service]:
    with serve_pages(redis_url, database_url, tmp_path / "data", seed=1) as svc:
        yield svc


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for one test module: Playwright's sync API keeps an event loop running on this
    thread while it is open, which ``asyncio.run()`` in other modules' tests would trip over."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"the page tests need Debian's Chromium at {CHROMIUM}: "
            "install it with `apt-get install -y chromium` (Playwright's own download is not used)",
            pytrace=False,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "the page tests need Playwright for Python: pip install -e '.[dev]' "
            "(or pip install playwright; do not run `playwright install`)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("NBO_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    _screenshot_dir[:] = [path]
    return path


@dataclass
class Tab:
    """A browser page that remembers console errors and uncaught exceptions."""

    page: Page
    base_url: str
    folder: Path
    errors: list[str] = field(default_factory=list)

    def open(self, path: str) -> None:
        self.page.goto(self.base_url + path)

    def shot(self, name: str) -> Path:
        path = self.folder / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def assert_clean(self) -> None:
        assert not self.errors, "browser console errors:\n" + "\n".join(self.errors)


@pytest.fixture
def tab(browser: Browser, pages_service: Service, screenshots: Path) -> Iterator[Tab]:
    yield from _tab(browser, pages_service.url, screenshots)


def _tab(browser: Browser, base_url: str, folder: Path) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    result = Tab(page=page, base_url=base_url, folder=folder)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            result.errors.append(f"{message.text} ({message.location.get('url', '')})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: result.errors.append(f"uncaught: {exc}"))
    try:
        yield result
    finally:
        context.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _screenshot_dir:
        terminalreporter.write_sep("-", "page screenshots")
        terminalreporter.write_line(str(_screenshot_dir[0]))
