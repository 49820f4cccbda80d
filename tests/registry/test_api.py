"""Registry API (issue 11): side effects, adverse events, summary numbers, course records."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from app.audit.models import AuditEntry
from tests.fixtures.sessions import Flow
from tests.registry.helpers import discharged

API = "/api/v1"
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


class TestSideEffects:
    async def test_recorded_corrected_and_audited(self, flow: Flow, db, patient, chair, monitor):
        session_id = await flow.started(patient, chair, monitor)
        url = f"{API}/sessions/{session_id}/side-effects"
        body = {"nausea_vomiting": "mild", "bladder_dysuria": "moderate", "antiemetic": True}
        r = await flow.client.post(url, json=body, headers=flow.nurse)
        assert r.status_code == 200, r.text
        effects = r.json()["side_effects"]
        assert effects["nausea_vomiting"] == "mild"
        assert effects["bladder_dysuria"] == "moderate"
        assert effects["headache"] == "none"
        assert effects["antiemetic"] is True
        r = await flow.client.post(url, json={"headache": "severe"}, headers=flow.physician)
        assert r.status_code == 200, r.text
        assert r.json()["side_effects"]["nausea_vomiting"] == "none"
        assert r.json()["side_effects"]["headache"] == "severe"
        rows = (
            await db.scalars(
                select(AuditEntry).where(AuditEntry.action == "REGISTRY_SIDE_EFFECTS_RECORDED")
            )
        ).all()
        assert len(rows) == 2
        assert rows[1].before["nausea_vomiting"] == "mild"

    async def test_out_of_range_item_is_422_naming_it(self, flow: Flow, patient, chair, monitor):
        session_id = await flow.started(patient, chair, monitor)
        r = await flow.client.post(
            f"{API}/sessions/{session_id}/side-effects",
            json={"bladder_haematuria": "extreme"},
            headers=flow.nurse,
        )
        assert r.status_code == 422
        assert "bladder_haematuria" in r.text

    async def test_unknown_item_is_422_naming_it(self, flow: Flow, patient, chair, monitor):
        session_id = await flow.started(patient, chair, monitor)
        r = await flow.client.post(
            f"{API}/sessions/{session_id}/side-effects",
            json={"hiccups": "mild"},
            headers=flow.nurse,
        )
        assert r.status_code == 422
        assert "hiccups" in r.text

    async def test_before_check_in_is_409(self, flow: Flow, patient, chair):
        session_id = await flow.schedule(patient, chair)
        r = await flow.client.post(
            f"{API}/sessions/{session_id}/side-effects", json={}, headers=flow.nurse
        )
        assert r.status_code == 409

    async def test_other_clinic_session_is_404(self, flow: Flow):
        r = await flow.client.post(
            f"{API}/sessions/00000000-0000-4000-8000-000000000000/side-effects",
            json={},
            headers=flow.nurse,
        )
        assert r.status_code == 404


class TestAdverseEvents:
    def event(self, at: datetime, **changes):
        body = {
            "term": "Hypertension",
            "grade": 2,
            "serious": False,
            "outcome": "resolved",
            "onset_at": at.isoformat(),
            "description": "SBP 210, settled after pause",
        }
        body.update(changes)
        return body

    async def test_recorded_with_grade(self, flow: Flow, patient, chair, monitor):
        session_id = await flow.started(patient, chair, monitor)
        r = await flow.client.post(
            f"{API}/sessions/{session_id}/adverse-events",
            json=self.event(flow.clock.now()),
            headers=flow.nurse,
        )
        assert r.status_code == 201, r.text
        [event] = r.json()["adverse_events"]
        assert (event["term"], event["grade"], event["outcome"]) == ("Hypertension", 2, "resolved")

    async def test_grade_out_of_range_is_422_naming_it(self, flow: Flow, patient, chair, monitor):
        session_id = await flow.started(patient, chair, monitor)
        r = await flow.client.post(
            f"{API}/sessions/{session_id}/adverse-events",
            json=self.event(flow.clock.now(), grade=6),
            headers=flow.nurse,
        )
        assert r.status_code == 422
        assert "grade" in r.text

    async def test_grade_4_not_serious_is_422_naming_serious(
        self, flow: Flow, patient, chair, monitor
    ):
        session_id = await flow.started(patient, chair, monitor)
        r = await flow.client.post(
            f"{API}/sessions/{session_id}/adverse-events",
            json=self.event(flow.clock.now(), grade=4),
            headers=flow.nurse,
        )
        assert r.status_code == 422
        assert r.json()["detail"].startswith("serious:")


class TestSessionSummary:
    async def test_numbers_of_a_discharged_session(
        self, flow: Flow, db, clinic, patient, chair, monitor
    ):
        checked_in = flow.clock.now()
        session_id = await discharged(flow, db, clinic, patient, chair, monitor)
        r = await flow.client.get(f"{API}/sessions/{session_id}/summary", headers=flow.nurse)
        assert r.status_code == 200, r.text
        s = r.json()
        assert s["state"] == "discharged"
        assert s["bp_pre"]["sbp_mmhg"] == 124  # the check-in vitals
        assert s["bp_40_min"]["sbp_mmhg"] == 140
        assert s["bp_end"]["sbp_mmhg"] == 140
        assert s["max_sbp_mmhg"] == 210
        assert s["min_spo2_pct"] == 97
        assert s["alarm_counts"] == {"low": 0, "medium": 0, "high": 1}
        # check-in and start at t0, end at 40 min, discharge at 100 min
        assert s["monitoring_minutes"] == 100
        assert s["ready_to_leave_minutes"] == 60
        assert datetime.fromisoformat(s["checked_in_at"]) == checked_in
        assert s["drug"]["lot"] == "KET-2026-11"
        assert s["drug"]["wasted_ml"] == "0.5"
        assert s["dose_mg"] is not None

    async def test_before_check_in_has_no_numbers(self, flow: Flow, patient, chair):
        session_id = await flow.schedule(patient, chair)
        r = await flow.client.get(f"{API}/sessions/{session_id}/summary", headers=flow.nurse)
        assert r.status_code == 200
        assert r.json()["monitoring_minutes"] is None
        assert r.json()["alarm_counts"] == {"low": 0, "medium": 0, "high": 0}


class TestCourseRecords:
    async def test_liver_test_by_nurse_and_evaluation_by_physician_only(self, flow: Flow, patient):
        today = flow.clock.now().date()
        liver = {"sample_date": today.isoformat(), "alt_u_per_l": 31, "ggt_u_per_l": 40}
        r = await flow.client.post(
            f"{API}/patients/{patient.id}/liver-tests", json=liver, headers=flow.nurse
        )
        assert r.status_code == 201, r.text
        tests = r.json()["liver_tests"]
        assert {t["source"] for t in tests} == {"registry", "screening"}
        [test] = [t for t in tests if t["source"] == "registry"]
        assert (test["alt_u_per_l"], test["ast_u_per_l"], test["ggt_u_per_l"]) == (31, None, 40)
        evaluation = {
            "kind": "mid_course",
            "evaluation_date": today.isoformat(),
            "clinician": "Psychologist P",
            "summary": "Better sleep",
            "recommendation": "Continue",
        }
        url = f"{API}/patients/{patient.id}/evaluations"
        assert (await flow.client.post(url, json=evaluation, headers=flow.nurse)).status_code == 403
        r = await flow.client.post(url, json=evaluation, headers=flow.physician)
        assert r.status_code == 201, r.text
        assert r.json()["evaluations"][0]["clinician"] == "Psychologist P"

    async def test_liver_test_without_values_is_422(self, flow: Flow, patient):
        r = await flow.client.post(
            f"{API}/patients/{patient.id}/liver-tests",
            json={"sample_date": flow.clock.now().date().isoformat()},
            headers=flow.nurse,
        )
        assert r.status_code == 422
        assert "alt_u_per_l" in r.text

    async def test_course_scale_item_out_of_range_is_422_naming_it(self, flow: Flow, patient):
        answers = dict.fromkeys(PHQ9_ITEMS, 0)
        answers["tired"] = 9
        body = {
            "scale_id": "phq9",
            "timepoint": "baseline",
            "taken_date": flow.clock.now().date().isoformat(),
            "answers": answers,
        }
        r = await flow.client.post(
            f"{API}/patients/{patient.id}/course/scales", json=body, headers=flow.nurse
        )
        assert r.status_code == 422, r.text
        assert "tired" in r.text

    async def test_future_sample_date_is_422(self, flow: Flow, patient):
        later = flow.clock.now().date() + timedelta(days=3)
        r = await flow.client.post(
            f"{API}/patients/{patient.id}/liver-tests",
            json={"sample_date": later.isoformat(), "alt_u_per_l": 20},
            headers=flow.nurse,
        )
        assert r.status_code == 422
