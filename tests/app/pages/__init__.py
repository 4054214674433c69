"""Browser tests of the web pages (headless Chromium via Playwright)."""

from __future__ import annotations
