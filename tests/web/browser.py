"""Debian's chromium driven by Playwright's sync API in one thread of its own, so the server
under test keeps running on the test's event loop while the browser waits (``expect``).

Every call into Playwright goes through ``Chromium.run`` (one worker thread: Playwright's sync
objects belong to the thread that made them)."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
AXE_URL = "/static/vendor/axe.min.js"
T = TypeVar("T")


class Chromium:
    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chromium")
        self.pool.submit(self._launch).result(timeout=60)

    def _launch(self) -> None:
        from playwright.sync_api import sync_playwright

        self.playwright = sync_playwright().start()
        self.browser = self.playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS
        )

    def _close(self) -> None:
        self.browser.close()
        self.playwright.stop()

    def close(self) -> None:
        try:
            self.pool.submit(self._close).result(timeout=30)
        finally:
            self.pool.shutdown(wait=True)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(fn, *args, **kwargs))

    def new_context(self, base_url: str) -> Any:
        return self.browser.new_context(
            base_url=base_url, viewport={"width": 1600, "height": 1000}, locale="en-GB"
        )


def login(page: Any, username: str, password: str, next_path: str = "/board") -> None:
    """In the browser thread: the login form, then wait for the target page."""
    page.goto(f"/login?next={next_path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{next_path}")


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """In the browser thread: axe-core (vendored, loaded from 'self' so the CSP allows it) on
    the current page; the serious and critical violations."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE_URL)
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def assert_accessible(page: Any) -> None:
    found = axe_violations(page)
    assert not found, json.dumps(found, indent=1)


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
