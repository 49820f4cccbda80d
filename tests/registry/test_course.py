"""Course view (issue 11 acceptance): a 6-infusion course with scales gives the right
response and remission dates; a missed mid-course evaluation shows as overdue."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tests.fixtures.sessions import Flow
from tests.registry.helpers import discharged

API = "/api/v1"
MADRS_ITEMS = (
    "apparent_sadness",
    "reported_sadness",
    "inner_tension",
    "reduced_sleep",
    "reduced_appetite",
    "concentration_difficulties",
    "lassitude",
    "inability_to_feel",
    "pessimistic_thoughts",
    "suicidal_thoughts",
)
PHQ9_ITEMS = (
    "interest",
    "depressed",
    "sleep",
    "tired",
    "appetite",
    "self_worth",
    "concentration",
    "psychomotor",
    "self_harm",
)


def answers(items: tuple[str, ...], total: int, top: int) -> dict[str, int]:
    """Answers summing to `total`, each item at most `top`."""
    out = {}
    for item in items:
        out[item] = min(top, total)
        total -= out[item]
    assert total == 0
    return out


def local_day(flow: Flow, settings) -> date:
    return flow.clock.now().astimezone(settings.timezone).date()


async def scale(flow: Flow, patient, scale_id: str, timepoint: str, day: date, total: int):
    items, top = (MADRS_ITEMS, 6) if scale_id == "madrs" else (PHQ9_ITEMS, 3)
    body = {
        "scale_id": scale_id,
        "timepoint": timepoint,
        "taken_date": day.isoformat(),
        "answers": answers(items, total, top),
    }
    r = await flow.client.post(
        f"{API}/patients/{patient.id}/course/scales", json=body, headers=flow.nurse
    )
    assert r.status_code == 201, r.text
    return r.json()


async def course(flow: Flow, patient) -> dict[str, Any]:
    r = await flow.client.get(f"{API}/patients/{patient.id}/course", headers=flow.nurse)
    assert r.status_code == 200, r.text
    return r.json()


async def test_six_infusion_course_outcomes_and_overdue_mid_course_evaluation(
    flow: Flow, db, clinic, patient, chair, monitor, settings
):
    day0 = local_day(flow, settings)
    r = await flow.client.post(
        f"{API}/patients/{patient.id}/liver-tests",
        json={"sample_date": day0.isoformat(), "alt_u_per_l": 25, "ast_u_per_l": 22},
        headers=flow.nurse,
    )
    assert r.status_code == 201, r.text
    await scale(flow, patient, "madrs", "baseline", day0, 30)
    await scale(flow, patient, "phq9", "baseline", day0, 20)
    days: list[date] = []
    for number in range(1, 7):
        days.append(local_day(flow, settings))
        weight = {"weight_kg": "70.0", "measured_at": flow.clock.now().isoformat()}
        r = await flow.client.post(
            f"{API}/patients/{patient.id}/weights", json=weight, headers=flow.nurse
        )
        assert r.status_code in (200, 201), r.text
        await discharged(flow, db, clinic, patient, chair, monitor, alarm=False)
        if number == 3:
            # 30 → 16 is a 46.7 % fall: no response yet
            await scale(flow, patient, "madrs", "after_infusion_3", days[-1], 16)
            await scale(flow, patient, "phq9", "after_infusion_3", days[-1], 12)
        if number == 6:
            # 30 → 15 is exactly 50 %: a response on the day of infusion 6
            await scale(flow, patient, "madrs", "after_infusion_6", days[-1], 15)
            await scale(flow, patient, "phq9", "after_infusion_6", days[-1], 4)
        flow.clock.advance(days=2)
    assert days[0] == day0
    final = {
        "kind": "final",
        "evaluation_date": days[5].isoformat(),
        "clinician": "Psychologist P",
        "summary": "Less hopeless",
        "recommendation": "Maintenance to be considered",
    }
    r = await flow.client.post(
        f"{API}/patients/{patient.id}/evaluations", json=final, headers=flow.physician
    )
    assert r.status_code == 201, r.text
    flow.clock.set(flow.clock.now() + timedelta(days=26))
    four_weeks = days[5] + timedelta(weeks=4)
    assert local_day(flow, settings) == four_weeks
    await scale(flow, patient, "madrs", "weeks_4_after", four_weeks, 8)

    view = await course(flow, patient)
    assert [s["infusion_number"] for s in view["induction_sessions"]] == [1, 2, 3, 4, 5, 6]
    assert view["maintenance_sessions"] == []
    assert view["schedule"] == [
        {"timepoint": "baseline", "madrs": 30, "phq9": 20},
        {"timepoint": "after_infusion_3", "madrs": 16, "phq9": 12},
        {"timepoint": "after_infusion_6", "madrs": 15, "phq9": 4},
        {"timepoint": "weeks_4_after", "madrs": 8, "phq9": None},
    ]
    outcomes = view["outcomes"]
    assert outcomes["madrs_response"]["status"] == "met"
    assert outcomes["madrs_response"]["first_met_on"] == days[5].isoformat()
    assert outcomes["madrs_remission"]["status"] == "met"
    assert outcomes["madrs_remission"]["first_met_on"] == four_weeks.isoformat()
    assert outcomes["phq9_remission"]["first_met_on"] == days[5].isoformat()
    reminders = {r["item"]: r for r in view["reminders"]}
    mid = reminders["evaluation:mid_course"]
    assert mid["due_on"] == days[2].isoformat()
    assert (mid["status"], mid["overdue"]) == ("overdue", True)
    assert "evaluation:final" not in reminders
    assert "liver_test" not in reminders
    # PHQ-9 at 4 weeks is missing and due today (within its grace days)
    assert reminders["phq9:weeks_4_after"]["status"] == "due"
    assert reminders["phq9:weeks_4_after"]["overdue"] is False


async def test_without_baseline_response_is_not_computable_with_the_reason(
    flow: Flow, db, clinic, patient, chair, monitor, settings
):
    await discharged(flow, db, clinic, patient, chair, monitor, alarm=False)
    await scale(flow, patient, "madrs", "after_infusion_3", local_day(flow, settings), 12)
    outcomes = (await course(flow, patient))["outcomes"]
    assert outcomes["madrs_response"]["status"] == "not_computable"
    assert "no baseline MADRS" in outcomes["madrs_response"]["reason"]
    assert outcomes["madrs_response"]["first_met_on"] is None


async def test_course_of_an_unknown_patient_is_404(flow: Flow):
    r = await flow.client.get(
        f"{API}/patients/00000000-0000-4000-8000-000000000000/course", headers=flow.nurse
    )
    assert r.status_code == 404


async def test_the_days_schedule_lists_due_course_items(flow: Flow, patient, chair, settings):
    session_id = await flow.schedule(patient, chair)
    r = await flow.client.get(f"{API}/registry/reminders", headers=flow.nurse)
    assert r.status_code == 200, r.text
    [entry] = r.json()["items"]
    assert (entry["patient_id"], entry["session_id"]) == (str(patient.id), session_id)
    items = {x["item"]: x["status"] for x in entry["reminders"]}
    # the screening's liver tests count as the pre-course test
    assert items == {"madrs:baseline": "due", "phq9:baseline": "due"}
    assert entry["overdue"] is False
    tomorrow = local_day(flow, settings) + timedelta(days=1)
    flow.clock.advance(days=1)
    r = await flow.client.get(
        f"{API}/registry/reminders", params={"day": tomorrow.isoformat()}, headers=flow.nurse
    )
    assert r.json()["items"] == []  # nobody booked tomorrow
    r = await flow.client.get(f"{API}/patients/{patient.id}/course", headers=flow.nurse)
    overdue = {x["item"] for x in r.json()["reminders"] if x["overdue"]}
    assert overdue == {"madrs:baseline", "phq9:baseline"}
    assert [t["source"] for t in r.json()["liver_tests"]] == ["screening"]
