"""Clinical pages in a real browser: session page with trends and actions, check-in with the
"repeat required" gate, screening sign with a justification (and the field error without
one), discharge before the minimum time listing the unmet criteria. axe-core on each page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.fixtures.factories import screening_body
from tests.web.browser import Chromium, assert_accessible, login, screenshot
from tests.web.conftest import Web, needs_chromium

pytestmark = [pytest.mark.slow, needs_chromium]


async def signed_in(chromium: Chromium, web: Web, user: Any, path: str) -> tuple[Any, Any]:
    def go() -> tuple[Any, Any]:
        context = chromium.new_context(web.url)
        page = context.new_page()
        login(page, user.username, web.password, next_path=path)
        return context, page

    return await chromium.run(go)


async def test_session_page_trends_actions_and_check_in_gate(chromium: Chromium, web: Web) -> None:
    session_id = await web.started_session(0)
    for offset, (spo2, hr) in enumerate([(97, 70), (96, 74), (95, 78), (97, 72)]):
        await web.post_readings(
            [
                {"metric": "spo2", "value": spo2, "offset_s": offset * 10},
                {"metric": "hr", "value": hr, "offset_s": offset * 10},
                {"metric": "rr", "value": 14, "offset_s": offset * 10},
            ]
        )
    web.clock.advance(seconds=40)
    await web.post_readings([{"metric": "sbp", "value": 182}, {"metric": "dbp", "value": 96}])
    context, page = await signed_in(chromium, web, web.seeded.nurse, f"/sessions/{session_id}")

    def session_page() -> None:
        expect(page.locator("h1")).to_contain_text("infusing")
        expect(page.locator("figure.chart canvas")).to_have_count(4, timeout=5000)
        expect(page.locator(".alarms .alarm-high")).to_contain_text("SBP")
        expect(page.locator("#ex-reading option")).not_to_have_count(1)
        assert_accessible(page)
        screenshot(page, "session")
        form = page.locator("form[data-endpoint$='/pause']")
        form.get_by_label("Reason (optional)").fill("Nausea")
        form.get_by_role("button", name="Pause").click()
        expect(page.locator("h1")).to_contain_text("paused", timeout=5000)
        expect(page.locator(".events")).to_contain_text("Nausea")
        page.locator("form[data-endpoint$='/stop']").get_by_role("button").click()
        # The browser refuses an empty required reason before anything is sent.
        expect(page.locator("h1")).to_contain_text("paused")

    await chromium.run(session_page)

    # Check-in of the next patient on another chair: BP 190/100 asks for a repeat.
    chair, _monitor = await web.another_chair()
    web.clock.advance(minutes=1)
    other = await web.flow().schedule(web.seeded.patients[1], chair)

    def check_in() -> None:
        page.goto("/schedule")
        expect(page.get_by_role("table")).to_contain_text("scheduled")
        assert_accessible(page)
        page.goto(f"/sessions/{other}/check-in")
        for box in page.locator("input[name='checklist']").all():
            box.check()
        page.get_by_label("SBP (mmHg)").fill("190")
        page.get_by_label("DBP (mmHg)").fill("100")
        page.get_by_label("HR (/min)").fill("72")
        page.get_by_label("SpO2 (%)").fill("98")
        page.get_by_label("RR (/min)").fill("14")
        assert_accessible(page)
        # The page stamps taken_at with the server's time plus the seconds since it loaded;
        # the fake clock stands still, so it moves on by hand.
        web.clock.advance(seconds=30)
        page.get_by_role("button", name="Check in").click()
        blockers = page.locator("#blockers")
        expect(blockers).to_contain_text("Repeat required", timeout=5000)
        expect(blockers.locator(".countdown")).to_have_text(
            __import__("re").compile(r"^[0-9]+:[0-5][0-9]$"), timeout=3000
        )
        assert_accessible(page)
        screenshot(page, "check-in-repeat")

    await chromium.run(check_in)
    await chromium.run(context.close)


async def test_screening_sign_and_discharge_before_the_minimum_time(
    chromium: Chromium, web: Web
) -> None:
    s = web.seeded
    at = web.clock.now() - timedelta(hours=1)
    elevated = {"measured_at": at.isoformat(), "sbp_mmhg": 150, "dbp_mmhg": 92}
    body = screening_body(
        at,
        resting_vitals={**elevated, "hr_bpm": 72, "spo2_pct": 98},
        medications=[{"name": "phenelzine", "classes": ["maoi"]}],
    )
    r = await web.http.post(
        f"/api/v1/patients/{s.patients[2].id}/screenings", json=body, headers=web.flow().nurse
    )
    assert r.status_code == 201, r.text
    screening_id = r.json()["id"]
    recovering = await web.flow().in_recovery(s.patients[0], s.chair, s.monitor)
    context, page = await signed_in(chromium, web, s.physician, f"/screenings/{screening_id}")

    def sign() -> None:
        findings = page.locator("tr.finding")
        expect(findings).to_have_count(2)
        expect(page.locator("tr[data-rule-id='maoi']")).to_contain_text("Relative")
        expect(page.locator("tr[data-rule-id='resting_bp_elevated']")).to_contain_text("150")
        assert_accessible(page)
        page.get_by_label("Justification for maoi").fill(
            "Stable for 2 years; agreed with psychiatry"
        )
        page.get_by_label("Your password (signature)").fill(web.password)
        page.get_by_role("button", name="Sign screening").click()
        field = page.get_by_label("Justification for resting_bp_elevated")
        expect(field).to_have_attribute("aria-invalid", "true", timeout=5000)
        expect(page.locator(".field-error")).to_have_text(
            "A written justification is required for this finding."
        )
        assert_accessible(page)
        screenshot(page, "screening")
        field.fill("Treated hypertension, repeat 132/84 on the ward")
        page.get_by_role("button", name="Sign screening").click()
        expect(page.locator("#signature")).to_contain_text("Signed: eligible", timeout=5000)

        page.goto(f"/sessions/{recovering}")
        form = page.locator("#discharge-form")
        form.get_by_label("Modified Aldrete total (0–10)").fill("10")
        for label in ("Escort present", "No-driving advice given", "No-alcohol advice given"):
            form.get_by_label(label).check()
        form.get_by_label("Your password (signature)").fill(web.password)
        assert_accessible(page)
        form.get_by_role("button", name="Sign discharge").click()
        error = form.locator(".form-error")
        expect(error).to_be_visible(timeout=5000)
        expect(error).to_contain_text("Not possible yet")
        expect(error.locator(".blockers li").first).to_contain_text(
            "minimum observation of 60 min not reached"
        )
        screenshot(page, "discharge-unmet")

    await chromium.run(sign)
    await chromium.run(context.close)
