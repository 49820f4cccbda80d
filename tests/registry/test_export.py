"""Registry export (issue 11 point 5): physician/admin only, pseudonymised by default, rows
match the sessions created here, identified export audited, FHIR Bundle validates."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
from datetime import timedelta

from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.registry.service.export_rows import data_dictionary
from tests.conftest import TEST_SECRET
from tests.fixtures.factories import bearer, make_user
from tests.fixtures.sessions import Flow
from tests.registry.helpers import discharged, three_sessions

EXPORT = "/api/v1/registry/export"


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def expected_pseudonym(patient) -> str:
    digest = hmac.new(TEST_SECRET.encode(), f"patient:{patient.id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:24]


class TestAccess:
    async def test_nurse_is_refused(self, flow: Flow):
        r = await flow.client.get(EXPORT, headers=flow.nurse)
        assert r.status_code == 403

    async def test_admin_may_export(self, flow: Flow, db, clinic, settings):
        admin = await make_user(db, clinic, "admin")
        r = await flow.client.get(EXPORT, headers=bearer(admin, settings, now=flow.clock.now()))
        assert r.status_code == 200, r.text
        assert rows(r.text) == []

    async def test_to_before_from_is_422(self, flow: Flow):
        r = await flow.client.get(
            EXPORT, params={"from": "2026-11-10", "to": "2026-11-01"}, headers=flow.physician
        )
        assert r.status_code == 422
        assert "to" in r.json()["detail"]


class TestCsv:
    async def test_rows_match_the_sessions(self, flow: Flow, db, clinic, patient, chair, monitor):
        first, second, third, other = await three_sessions(
            flow, db, clinic, patient, chair, monitor
        )
        r = await flow.client.get(EXPORT, headers=flow.physician)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/csv")
        header = r.text.splitlines()[0].split(",")
        assert header == [c[0] for c in data_dictionary()]
        got = rows(r.text)
        sessions = {row["session_id"]: row for row in got if row["kind"] == "session"}
        courses = {row["patient_pseudonym"]: row for row in got if row["kind"] == "course"}
        assert set(sessions) == {first, second, third}
        assert set(courses) == {expected_pseudonym(patient), expected_pseudonym(other)}
        one = sessions[first]
        assert one["patient_pseudonym"] == expected_pseudonym(patient)
        assert (one["infusion_number"], one["course_phase"], one["state"]) == (
            "1",
            "induction",
            "discharged",
        )
        assert (one["alarms_high"], one["alarms_medium"], one["alarms_low"]) == ("1", "0", "0")
        assert one["max_sbp_mmhg"] == "210"
        assert one["bp_pre_sbp_mmhg"] == "124"
        assert one["bp_40_min_sbp_mmhg"] == "140"
        assert one["min_spo2_pct"] == "97"
        assert (one["monitoring_minutes"], one["ready_to_leave_minutes"]) == ("100", "60")
        assert one["dose_mg"] == "35.0"  # 0.5 mg/kg x 70 kg
        assert (one["weight_kg"], one["mg_per_kg"]) == ("70.0", "0.500")
        assert (one["drug_lot"], one["drug_prepared_ml"], one["drug_wasted_ml"]) == (
            "KET-2026-11",
            "110.0",
            "0.5",
        )
        assert (one["headache"], one["bladder_urgency"], one["nausea_vomiting"]) == (
            "mild",
            "moderate",
            "none",
        )
        assert one["intervention_antiemetic"] == "false"
        assert (one["adverse_events"], one["adverse_event_max_grade"]) == ("1", "2")
        assert one["cadss_max_total"] == "0"
        two = sessions[second]
        assert (two["infusion_number"], two["alarms_high"], two["max_sbp_mmhg"]) == (
            "2",
            "0",
            "140",
        )
        assert two["headache"] == ""  # not recorded
        course = courses[expected_pseudonym(patient)]
        assert (course["infusions_given"], course["planned_infusions"]) == ("2", "6")
        assert course["madrs_response"] == "not_computable"
        assert course["session_id"] == ""
        assert patient.name not in r.text
        assert patient.mrn not in r.text
        audit = (
            await db.scalars(select(AuditEntry).where(AuditEntry.action == "REGISTRY_EXPORTED"))
        ).one()
        assert audit.after["identified"] is False
        assert audit.after["sessions"] == 3

    async def test_period_and_patient_filters(
        self, flow: Flow, db, clinic, patient, chair, monitor, settings
    ):
        first, second, third, other = await three_sessions(
            flow, db, clinic, patient, chair, monitor
        )
        day2 = flow.clock.now().astimezone(settings.timezone).date()
        r = await flow.client.get(EXPORT, params={"from": day2.isoformat()}, headers=flow.physician)
        assert {x["session_id"] for x in rows(r.text) if x["kind"] == "session"} == {
            second,
            third,
        }
        before = (day2 - timedelta(days=1)).isoformat()
        r = await flow.client.get(EXPORT, params={"to": before}, headers=flow.physician)
        assert {x["session_id"] for x in rows(r.text) if x["kind"] == "session"} == {first}
        r = await flow.client.get(
            EXPORT, params={"patient_id": str(other.id)}, headers=flow.physician
        )
        assert [x["kind"] for x in rows(r.text)] == ["session", "course"]
        assert rows(r.text)[0]["session_id"] == third

    async def test_identified_export_has_names_and_is_audited(
        self, flow: Flow, db, clinic, patient, chair, monitor
    ):
        await discharged(flow, db, clinic, patient, chair, monitor, alarm=False)
        r = await flow.client.get(EXPORT, params={"identified": "true"}, headers=flow.physician)
        assert r.status_code == 200, r.text
        [session, course] = rows(r.text)
        assert (session["patient_mrn"], session["patient_name"]) == (patient.mrn, patient.name)
        assert course["patient_birth_date"] == patient.birth_date.isoformat()
        audit = (
            await db.scalars(select(AuditEntry).where(AuditEntry.action == "REGISTRY_EXPORTED"))
        ).one()
        assert audit.after["identified"] is True
        assert audit.actor_id == str(flow.physician_user.id)


class TestFhir:
    async def test_bundle_validates_and_is_pseudonymised(
        self, flow: Flow, db, clinic, patient, chair, monitor
    ):
        await three_sessions(flow, db, clinic, patient, chair, monitor)
        r = await flow.client.get(EXPORT, params={"format": "fhir"}, headers=flow.physician)
        assert r.status_code == 200, r.text
        bundle = Bundle.model_validate(r.json())
        kinds = [e.resource.__class__.__name__ for e in bundle.entry]
        assert kinds.count("Patient") == 2
        assert kinds.count("Encounter") == 3
        assert kinds.count("AdverseEvent") == 1
        assert kinds.count("QuestionnaireResponse") >= 6  # CADSS before, Aldrete, CADSS after
        assert kinds.count("Observation") > 10
        patients = [e.resource for e in bundle.entry if e.resource.__class__.__name__ == "Patient"]
        assert all(p.name is None and p.birthDate is None for p in patients)
        assert expected_pseudonym(patient) in {p.identifier[0].value for p in patients}
        assert patient.name not in r.text
        full_urls = {e.fullUrl for e in bundle.entry}
        for entry in r.json()["entry"]:
            subject = entry["resource"].get("subject", {}).get("reference")
            if subject is not None:
                assert subject in full_urls
        [event] = [
            e.resource for e in bundle.entry if e.resource.__class__.__name__ == "AdverseEvent"
        ]
        assert event.outcome.coding[0].code == "resolved"
        assert "CTCAE grade 2" in event.event.text
