"""The live board in a real browser (Debian's chromium through Playwright): live readings on
the right tile, a flashing high alarm acknowledged from the tile on every open board, the
lost-connection banner and resume, a board open past the API token lifetime, accessibility."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from playwright.sync_api import expect

from app.realtime import ws as board_ws
from tests.web.browser import Chromium, assert_accessible, login, screenshot
from tests.web.conftest import Web, needs_chromium, open_web

pytestmark = [pytest.mark.slow, needs_chromium]

NORMAL = [
    {"metric": "sbp", "value": 128},
    {"metric": "dbp", "value": 79},
    {"metric": "hr", "value": 71},
    {"metric": "spo2", "value": 97},
    {"metric": "rr", "value": 14},
]


def tile(page: Any, web: Web) -> Any:
    return page.locator(f'.tile[data-chair-id="{web.seeded.chair.id}"]')


def vital(page: Any, web: Web, metric: str) -> Any:
    return tile(page, web).locator(f'.vital[data-metric="{metric}"] .value')


async def open_board(chromium: Chromium, web: Web) -> tuple[Any, Any]:
    def go() -> tuple[Any, Any]:
        context = chromium.new_context(web.url)
        page = context.new_page()
        login(page, web.seeded.nurse.username, web.password)
        expect(page.locator("#board-status")).to_have_text("Live", timeout=10_000)
        return context, page

    return await chromium.run(go)


async def test_live_tile_alarm_and_acknowledge_on_every_board(chromium: Chromium, web: Web) -> None:
    session_id = await web.started_session()
    context, page = await open_board(chromium, web)

    def first_look() -> None:
        t = tile(page, web)
        expect(t).to_have_attribute("data-session-id", session_id)
        expect(t.locator(".phase")).to_have_text("Infusing")
        expect(t.locator(".initials")).not_to_be_empty()
        expect(t.locator(".meta")).to_contain_text("Infusion 1 of")
        expect(t.locator(".progress-text")).to_contain_text("of 40 min")

        csp = page.request.get("/board").headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp

    await chromium.run(first_look)

    await web.post_readings(NORMAL)

    def readings_shown() -> None:
        expect(vital(page, web, "sbp")).to_have_text("128/79", timeout=1000)
        expect(vital(page, web, "hr")).to_have_text("71", timeout=1000)
        expect(vital(page, web, "spo2")).to_have_text("97", timeout=1000)
        expect(vital(page, web, "rr")).to_have_text("14", timeout=1000)
        expect(tile(page, web).locator(".alarm")).to_have_count(0)
        assert_accessible(page)
        screenshot(page, "board-normal")

    await chromium.run(readings_shown)

    # SpO2 85 % held for 15 s of device time: the high alarm (< 90 % after 15 s).
    for offset in (0, 5, 10, 15):
        await web.post_readings([{"metric": "spo2", "value": 85, "offset_s": offset}])
    web.clock.advance(seconds=15)
    await web.post_readings([{"metric": "spo2", "value": 85}])

    def alarm_flashes() -> Any:
        alarm = tile(page, web).locator(".alarm-high")
        expect(alarm).to_have_count(1, timeout=3000)
        expect(alarm).to_have_class("alarm alarm-high flashing")
        expect(alarm).to_contain_text("HIGH PRIORITY")
        expect(alarm.locator(".advice")).to_contain_text("Action:")
        style = alarm.evaluate(
            "el => { const s = getComputedStyle(el); "
            "return [s.animationName, s.animationDuration, s.animationIterationCount]; }"
        )
        assert style == ["flash-high", "0.5s", "infinite"], style  # 2 Hz
        expect(tile(page, web)).to_have_attribute("data-alarm", "high")
        expect(vital(page, web, "spo2")).to_have_text("85")
        assert_accessible(page)
        screenshot(page, "board-alarm")
        second = context.new_page()
        second.goto("/board")
        expect(tile(second, web).locator(".alarm-high")).to_have_count(1, timeout=5000)
        tile(page, web).get_by_role("button", name="Acknowledge").click()
        for board in (page, second):
            acked = tile(board, web).locator(".alarm-high")
            expect(acked).to_contain_text("Acknowledged by", timeout=3000)
            expect(acked).not_to_have_class("alarm alarm-high flashing")
            expect(acked.get_by_role("button", name="Acknowledge")).to_have_count(0)
        tile(second, web).get_by_role("button", name="Silence 2 min").click()
        expect(tile(page, web).locator(".alarm-high")).to_contain_text(
            "Sound silenced until", timeout=3000
        )
        return second

    second = await chromium.run(alarm_flashes)
    await chromium.run(second.close)
    await chromium.run(context.close)


async def test_lost_connection_banner_then_resume_without_gap(
    chromium: Chromium, web: Web, migrated_url: str
) -> None:
    await web.started_session()
    context, page = await open_board(chromium, web)
    await web.post_readings([{"metric": "spo2", "value": 96}])
    await chromium.run(lambda: expect(vital(page, web, "spo2")).to_have_text("96", timeout=2000))

    await web.server.stop()

    def banner_shown() -> None:
        banner = page.locator("#conn-banner")
        expect(banner).to_be_visible(timeout=5000)
        expect(banner).to_contain_text("Connection lost")
        screenshot(page, "board-disconnected")

    await chromium.run(banner_shown)

    # Meanwhile another instance (same database) takes readings; then ours comes back on the
    # same port and takes more before the board has reconnected.
    async with open_web(migrated_url, web.seeded) as other:
        other.clock.set(web.clock.now())
        for offset, value in enumerate((91, 92, 93)):
            await other.post_readings([{"metric": "spo2", "value": value, "offset_s": offset + 1}])
    web.clock.advance(seconds=4)
    await web.server.start()
    await web.post_readings(
        [{"metric": "hr", "value": 66}, {"metric": "spo2", "value": 94, "offset_s": 1}]
    )

    def caught_up() -> list[float]:
        expect(page.locator("#conn-banner")).to_be_hidden(timeout=15_000)
        expect(vital(page, web, "spo2")).to_have_text("94", timeout=2000)
        expect(vital(page, web, "hr")).to_have_text("66")
        return list(
            page.evaluate(
                "() => [...window.__board.sessions.values()][0].trends.spo2.map(p => p[1])"
            )
        )

    values = await chromium.run(caught_up)
    assert values[-5:] == [96, 91, 92, 93, 94]
    await chromium.run(context.close)


async def test_board_open_past_the_token_lifetime_stays_live(
    chromium: Chromium, migrated_url: str, seeded: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Short rechecks so minutes of fake time pass through several of them in a second or two.
    monkeypatch.setattr(board_ws, "PING_INTERVAL_S", 0.2)
    monkeypatch.setattr(board_ws, "RECHECK_INTERVAL_S", 0.2)
    async with open_web(
        migrated_url, seeded, access_token_minutes=1, browser_session_idle_minutes=2
    ) as web:
        await web.started_session()
        context, page = await open_board(chromium, web)
        for _ in range(6):  # 6 minutes: past the token (1 min) and the idle limit (2 min)
            web.clock.advance(minutes=1)
            await asyncio.sleep(0.5)
        await web.post_readings([{"metric": "rr", "value": 17}])

        def still_live() -> None:
            expect(vital(page, web, "rr")).to_have_text("17", timeout=2000)
            expect(page.locator("#conn-banner")).to_be_hidden()
            page.reload()
            expect(page).to_have_url(f"{web.url}/board")
            expect(page.locator("#board-status")).to_have_text("Live", timeout=5000)

        await chromium.run(still_live)
        await chromium.run(context.close)
