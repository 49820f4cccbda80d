"""Admin pages in a real browser: a device is created with its key shown once, then revoked;
users, chairs and webhooks pages; the board works by keyboard and at 200 % zoom."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.fixtures.factories import make_user
from tests.web.browser import Chromium, assert_accessible, login
from tests.web.conftest import Web, needs_chromium

pytestmark = [pytest.mark.slow, needs_chromium]


async def test_admin_pages_device_key_once_and_revoke(chromium: Chromium, web: Web) -> None:
    async with web.server.app.state.sessionmaker() as db, db.begin():
        admin = await make_user(db, web.seeded.clinic, "admin")

    def admin_pages() -> None:
        context = chromium.new_context(web.url)
        page = context.new_page()
        login(page, admin.username, web.password, next_path="/admin/devices")
        assert_accessible(page)
        name = f"Spare monitor {uuid.uuid4().hex[:8]}"  # unique among every test's devices
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_role("button", name="Create device").click()
        key = page.locator("#key-once [data-field='api_key']")
        expect(key).not_to_be_empty(timeout=5000)
        assert len(key.inner_text()) > 20
        page.goto("/admin/devices")
        row = page.locator("tr", has_text=name)
        expect(row).to_contain_text("active")
        assert key.count() == 0 or not page.locator("#key-once").is_visible()
        row.get_by_label("Reason").fill("Replaced")
        row.get_by_role("button", name=f"Revoke {name}").click()
        expect(page.locator("tr", has_text=name)).to_contain_text("revoked", timeout=5000)
        for path in ("/admin/users", "/admin/chairs", "/admin/webhooks", "/protocols"):
            page.goto(path)
            expect(page.locator("h1")).to_be_visible()
            assert_accessible(page)
        context.close()

    await chromium.run(admin_pages)


async def test_board_by_keyboard_at_200_percent_zoom(chromium: Chromium, web: Web) -> None:
    await web.started_session()
    await web.post_readings([{"metric": "sbp", "value": 200}, {"metric": "dbp", "value": 90}])

    def keyboard() -> Any:
        # 200 % zoom of a 1280×800 screen: the layout of a 640×400 CSS-pixel viewport.
        context = chromium.browser.new_context(
            base_url=web.url, viewport={"width": 640, "height": 400}, device_scale_factor=2
        )
        page = context.new_page()
        login(page, web.seeded.nurse.username, web.password)
        expect(page.locator(".alarm-high")).to_have_count(1, timeout=5000)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 640, f"horizontal scrolling at 200 %: {width}px"
        ack = page.get_by_role("button", name="Acknowledge")
        for _ in range(30):
            page.keyboard.press("Tab")
            if ack.evaluate("el => el === document.activeElement"):
                break
        else:
            raise AssertionError("Acknowledge is not reachable with Tab")
        page.keyboard.press("Enter")
        expect(page.locator(".alarm-high")).to_contain_text("Acknowledged by", timeout=3000)
        assert_accessible(page)
        context.close()

    await chromium.run(keyboard)
