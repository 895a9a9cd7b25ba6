"""Playwright against Debian's Chromium (never a downloaded browser) and a live server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")

if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
    pytest.skip(
        f"Chromium not found at {CHROMIUM}: install Debian's chromium package to run the browser tests",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(autouse=True, scope="module")
def _allow_orm_beside_playwright() -> Iterator[None]:
    """Playwright's sync API keeps an event loop in the main thread; the test body's ORM calls (and the
    database flush after each test) are still plain synchronous calls. Module-scoped so it outlives each
    test's teardown, and removed afterwards so it never leaks into other tests."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


class PageWatch:
    """Collects console errors and any request to a host other than the live server."""

    def __init__(self, page: Page, live_url: str) -> None:
        self.errors: list[str] = []
        self.foreign: list[str] = []
        host = urlparse(live_url).netloc

        def console(msg: Any) -> None:
            if msg.type == "error":
                self.errors.append(msg.text)

        page.on("console", console)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

        def check(request: Any) -> None:
            url = urlparse(request.url)
            if url.scheme in {"http", "https", "ws", "wss"} and url.netloc != host:
                self.foreign.append(request.url)

        page.on("request", check)

    def assert_clean(self) -> None:
        assert self.errors == [], f"console errors: {self.errors}"
        assert self.foreign == [], f"requests to other hosts: {self.foreign}"


@pytest.fixture
def page(browser: Browser, live_server: Any) -> Iterator[tuple[Page, PageWatch]]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1366, "height": 900})
    p = context.new_page()
    p.set_default_timeout(20_000)
    watch = PageWatch(p, live_server.url)
    yield p, watch
    context.close()


def log_in(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
