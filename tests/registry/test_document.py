"""Session summary for the medical record (issue 11 point 4): the PDF opens and contains the
dose and the alarm list; the FHIR Bundle validates with fhir.resources (R4B)."""

from __future__ import annotations

import base64
import io

from fhir.resources.R4B.bundle import Bundle
from pypdf import PdfReader
from sqlalchemy import select

from app.audit.models import AuditEntry
from tests.fixtures.sessions import Flow
from tests.registry.helpers import discharged

API = "/api/v1/sessions"


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


async def record_side_effects(flow: Flow, session_id: str) -> None:
    r = await flow.client.post(
        f"{API}/{session_id}/side-effects",
        json={"nausea_vomiting": "mild", "antiemetic": True},
        headers=flow.nurse,
    )
    assert r.status_code == 200, r.text


class TestSummaryPdf:
    async def test_contains_dose_alarms_side_effects_and_sign_off(
        self, flow: Flow, db, clinic, patient, chair, monitor
    ):
        session_id = await discharged(flow, db, clinic, patient, chair, monitor)
        await record_side_effects(flow, session_id)
        session = await flow.get(session_id)
        r = await flow.client.get(f"{API}/{session_id}/summary.pdf", headers=flow.nurse)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/pdf"
        text = pdf_text(r.content)
        assert f"{session['order']['dose_mg']} mg" in text
        assert "KET-2026-11" in text
        assert "Alarms and acknowledgements" in text
        [alarm] = (await flow.client.get(f"{API}/{session_id}/alarms", headers=flow.nurse)).json()[
            "items"
        ]
        assert alarm["rule_id"] in text
        assert "high" in text
        assert (
            flow.nurse_user.username in text or "repeat" in text or alarm["acknowledged_by"] in text
        )
        assert "nausea_vomiting: mild" in text
        assert "antiemetic" in text
        assert (
            f"signed off by {flow.physician_user.display_name or flow.physician_user.username}"
            in text
        )
        assert patient.mrn in text
        exported = (
            await db.scalars(
                select(AuditEntry).where(AuditEntry.action == "SESSION_SUMMARY_EXPORTED")
            )
        ).all()
        assert [e.after["format"] for e in exported] == ["pdf"]

    async def test_before_discharge_is_409(self, flow: Flow, patient, chair, monitor):
        session_id = await flow.in_recovery(patient, chair, monitor)
        r = await flow.client.get(f"{API}/{session_id}/summary.pdf", headers=flow.physician)
        assert r.status_code == 409


class TestSummaryFhir:
    async def test_bundle_validates_and_wraps_the_pdf(
        self, flow: Flow, db, clinic, patient, chair, monitor
    ):
        session_id = await discharged(flow, db, clinic, patient, chair, monitor)
        await record_side_effects(flow, session_id)
        r = await flow.client.get(f"{API}/{session_id}/summary.fhir", headers=flow.physician)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/fhir+json")
        bundle = Bundle.model_validate(r.json())
        kinds = [e.resource.__class__.__name__ for e in bundle.entry]
        assert kinds[:2] == ["DocumentReference", "Encounter"]
        assert kinds.count("Observation") >= 8
        doc = bundle.entry[0].resource
        pdf = base64.b64decode(r.json()["entry"][0]["resource"]["content"][0]["attachment"]["data"])
        assert doc.content[0].attachment.contentType == "application/pdf"
        assert "Alarms and acknowledgements" in pdf_text(pdf)
        observations = {
            e["resource"]["code"]["text"]: e["resource"]
            for e in r.json()["entry"]
            if e["resource"]["resourceType"] == "Observation"
        }
        assert observations["Alarms of high priority during the session"]["valueInteger"] == 1
        assert observations["Total monitoring time"]["valueQuantity"]["value"] == 100
        assert (
            observations["Highest systolic blood pressure during the session"]["valueQuantity"][
                "value"
            ]
            == 210
        )
