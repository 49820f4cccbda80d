"""Registry pages in a real browser (issue 11 points 3 and 6): the clinic report with its
numbers, charts and tables (physician; a nurse gets the 403 page), and the course reminders
with an overdue mid-course evaluation on the patient page and the day's schedule. axe-core
on each page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.fixtures.factories import make_user
from tests.registry import helpers
from tests.registry.helpers import discharged, reweigh
from tests.web.browser import Chromium, assert_accessible, login, screenshot
from tests.web.conftest import Web, needs_chromium

pytestmark = [pytest.mark.slow, needs_chromium]


@pytest.fixture
def committed_users(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry helpers make the drug witness with the test's session; here the server
    must see it, so it is written (and committed) through the running app's database."""

    async def make(_db: Any, clinic: Any, role: str = "nurse", **kwargs: Any) -> Any:
        async with web.server.app.state.sessionmaker() as db, db.begin():
            return await make_user(db, clinic, role, **kwargs)

    monkeypatch.setattr(helpers, "make_user", make)


async def course_sessions(web: Web, patient: Any, count: int, *, alarm: bool) -> list[str]:
    s = web.seeded
    out = []
    for number in range(count):
        await reweigh(web.flow(), patient)
        out.append(
            await discharged(
                web.flow(), None, s.clinic, patient, s.chair, s.monitor, alarm=alarm and not number
            )
        )
        web.clock.advance(days=2)
    return out


async def signed_in(chromium: Chromium, web: Web, user: Any, path: str) -> tuple[Any, Any]:
    def go() -> tuple[Any, Any]:
        context = chromium.new_context(web.url)
        page = context.new_page()
        login(page, user.username, web.password, next_path=path)
        return context, page

    return await chromium.run(go)


@pytest.mark.usefixtures("committed_users")
async def test_physician_sees_the_clinic_report(chromium: Chromium, web: Web) -> None:
    s = web.seeded
    await course_sessions(web, s.patients[0], 2, alarm=True)
    r = await web.http.get("/api/v1/registry/report", headers=web.flow().physician)
    assert r.status_code == 200, r.text
    [alarm] = r.json()["alarms"]
    # One SBP alarm over two infusions of 40 min: 1 / (80 / 60) h × 100 = 75.0
    assert (alarm["count"], alarm["per_100_infusion_hours"]) == (1, "75.0")
    context, page = await signed_in(chromium, web, s.physician, "/registry/report")

    def report() -> None:
        expect(page.get_by_role("link", name="Report")).to_have_attribute("aria-current", "page")
        summary = page.locator("#report-summary")
        expect(summary.locator("[data-key='sessions_started']")).to_have_text("2")
        expect(summary.locator("[data-key='sessions_completed']")).to_have_text("2")
        expect(summary.locator("[data-key='completion_pct']")).to_have_text("100.0 %")
        row = page.locator(f"#t-alarms tr[data-rule-id='{alarm['rule_id']}']")
        expect(row).to_contain_text("75.0")
        expect(row.locator("td").first).to_have_text("1")
        expect(page.locator("#t-grades")).to_contain_text("Grade 3")
        expect(page.locator("#t-outcomes")).to_contain_text("not computable")
        charts = page.locator("figure[data-chart] .uplot")
        expect(charts).to_have_count(4, timeout=5000)
        expect(page.locator("figure[data-chart='alarms'] .uplot")).to_have_attribute(
            "aria-label", re.compile(rf"{alarm['rule_id']}: Per 100 infusion-hours 75")
        )
        assert_accessible(page)
        screenshot(page, "registry-report")
        # A period without the sessions: the numbers go to zero.
        page.get_by_label("From").fill("2001-01-01")
        page.get_by_label("To").fill("2001-01-31")
        page.get_by_role("button", name="Show report").click()
        page.wait_for_url(re.compile(r"from=2001-01-01"))
        expect(page.locator("[data-key='sessions_started']")).to_have_text("0")
        expect(page.locator("#t-alarms")).to_contain_text("No alarms in the period.")
        assert_accessible(page)
        page.goto("/registry/report?from=2001-02-01&to=2001-01-01")
        expect(page.get_by_role("alert")).to_contain_text("To: is before From")

    await chromium.run(report)
    await chromium.run(context.close)

    nurse_context, nurse_page = await signed_in(chromium, web, s.nurse, "/board")

    def refused() -> None:
        expect(nurse_page.get_by_role("link", name="Report")).to_have_count(0)
        response = nurse_page.goto("/registry/report")
        assert response is not None
        assert response.status == 403
        expect(nurse_page.locator("h1")).to_contain_text("Not allowed")

    await chromium.run(refused)
    await chromium.run(nurse_context.close)


@pytest.mark.usefixtures("committed_users")
async def test_nurse_sees_an_overdue_reminder_on_the_patient_page_and_schedule(
    chromium: Chromium, web: Web
) -> None:
    s = web.seeded
    patient = s.patients[1]
    await course_sessions(web, patient, 3, alarm=False)
    # Infusion 3 was given 2 days ago; the mid-course evaluation's 7 grace days run out.
    web.clock.advance(days=7)
    await reweigh(web.flow(), patient)
    await web.flow().schedule(patient, s.chair)
    r = await web.http.get(f"/api/v1/patients/{patient.id}/course", headers=web.flow().nurse)
    mid = {x["item"]: x for x in r.json()["reminders"]}["evaluation:mid_course"]
    assert mid["overdue"] is True, mid
    context, page = await signed_in(chromium, web, s.nurse, f"/patients/{patient.id}")

    def reminders() -> None:
        item = page.locator("#reminders li[data-item='evaluation:mid_course']")
        expect(item).to_contain_text("Overdue")
        expect(item).to_contain_text("Psychologist mid-course evaluation")
        expect(item).to_contain_text(f"due {mid['due_on']}")
        assert_accessible(page)
        page.goto("/schedule")
        row = page.locator("tr", has=page.locator(f"a[href='/patients/{patient.id}']"))
        cell = row.locator("li[data-item='evaluation:mid_course']")
        expect(cell).to_contain_text("Overdue")
        expect(cell).to_contain_text("Psychologist mid-course evaluation")
        assert_accessible(page)
        screenshot(page, "schedule-reminders")

    await chromium.run(reminders)
    await chromium.run(context.close)
