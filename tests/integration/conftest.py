"""Fixtures of the real-browser tests: Debian's chromium driven by playwright (never `playwright install`)."""

from __future__ import annotations

import pytest

PAGE_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def browser():
    """One chromium per test module; a missing chromium fails the test with the command that installs it."""
    from playwright.sync_api import sync_playwright

    from tests.harness import launch_chromium

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A page in a fresh 1400 x 1000 context (its own storage, so its own browser id)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    yield page
    context.close()
