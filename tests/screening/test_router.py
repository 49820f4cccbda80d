"""Screening over HTTP: record, versions, physician sign-off, eligibility, scoping and audit."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEntry
from app.protocols.models import ProtocolVersion
from app.screening.models import ScreeningVersion
from tests.fixtures.clock import FakeClock
from tests.fixtures.factories import (
    NOW,
    PASSWORD,
    bearer,
    make_approved_protocol,
    make_clinic,
    make_patient,
    make_user,
    screening_body,
)

API = "/api/v1"
THEOPHYLLINE = {"name": "theophylline", "classes": ["xanthine"]}
PHENELZINE = {"name": "phenelzine", "classes": ["maoi"]}
ELEVATED_BP = {
    "measured_at": (NOW - timedelta(hours=1)).isoformat(),
    "sbp_mmhg": 150,
    "dbp_mmhg": 92,
    "hr_bpm": 72,
    "spo2_pct": 98,
}


@pytest.fixture
async def clinic(db: AsyncSession):
    return await make_clinic(db)


@pytest.fixture
async def protocol(db: AsyncSession, clinic) -> ProtocolVersion:
    return await make_approved_protocol(db, clinic)


@pytest.fixture
async def patient(db: AsyncSession, clinic):
    return await make_patient(db, clinic)


@pytest.fixture
async def nurse(db: AsyncSession, clinic, settings) -> dict[str, str]:
    return bearer(await make_user(db, clinic, "nurse"), settings)


@pytest.fixture
async def physician(db: AsyncSession, clinic, settings) -> dict[str, str]:
    return bearer(await make_user(db, clinic, "physician"), settings)


async def record(
    client: httpx.AsyncClient, headers: dict[str, str], patient_id: Any, **changes: Any
) -> dict[str, Any]:
    r = await client.post(
        f"{API}/patients/{patient_id}/screenings", json=screening_body(**changes), headers=headers
    )
    assert r.status_code == 201, r.text
    return r.json()


async def sign(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    screening_id: str,
    decision: str = "eligible",
    password: str = PASSWORD,
    **extra: Any,
) -> httpx.Response:
    return await client.post(
        f"{API}/screenings/{screening_id}/sign",
        json={"password": password, "decision": decision, **extra},
        headers=headers,
    )


async def eligibility(
    client: httpx.AsyncClient, headers: dict[str, str], patient_id: Any, at: Any = None
) -> dict[str, Any]:
    params = {} if at is None else {"at": at.isoformat()}
    r = await client.get(f"{API}/patients/{patient_id}/eligibility", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def rule_ids(findings: list[dict[str, Any]]) -> list[str]:
    return [f["rule_id"] for f in findings]


@pytest.mark.usefixtures("protocol")
class TestRecordScreening:
    async def test_clean_screening_is_recorded_with_results_and_hash(
        self, client, nurse, patient, protocol
    ):
        body = await record(client, nurse, patient.id)
        assert body["version"] == 1
        assert body["status"] == "ELIGIBLE"
        assert body["findings"] == []
        assert body["protocol_version_id"] == str(protocol.id)
        assert len(body["content_sha256"]) == 64
        assert body["signature"] is None
        assert body["superseded"] is False
        # The patient's weight (recorded at 09:00) is newer than the screening's (08:00).
        assert body["content"]["weight_measured_at"].startswith("2026-11-23T09:00:00")

    async def test_findings_carry_rule_severity_protocol_key_and_data(self, client, nurse, patient):
        body = await record(
            client, nurse, patient.id, resting_vitals=ELEVATED_BP, medications=[PHENELZINE]
        )
        assert body["status"] == "NEEDS_REVIEW"
        by_rule = {f["rule_id"]: f for f in body["findings"]}
        assert set(by_rule) == {"maoi", "resting_bp_elevated"}
        bp = by_rule["resting_bp_elevated"]
        assert bp["severity"] == "relative"
        assert bp["protocol_key"] == "screening.rules.resting_bp_elevated"
        assert bp["data"]["sbp_mmhg"] == "150.0"
        assert "150/92 mmHg" in bp["message"]

    async def test_field_not_recorded_is_a_missing_data_finding(self, client, nurse, patient):
        body = await record(client, nurse, patient.id, stroke=None)
        assert body["status"] == "NEEDS_REVIEW"
        [finding] = body["findings"]
        assert finding["severity"] == "missing-data"
        assert finding["data"] == {"field": "stroke"}

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"resting_vitals": {**ELEVATED_BP, "sbp_mmhg": 900}}, "body.resting_vitals.sbp_mmhg"),
            ({"weight_kg": "-3"}, "body.weight_kg"),
            ({"failed_antidepressant_trials": 400}, "body.failed_antidepressant_trials"),
            ({"weight_measured_at": "2026-11-23T08:00:00"}, "body.weight_measured_at"),
            ({"psychosis": "maybe"}, "body.psychosis"),
            ({"blood_type": "A"}, "body.blood_type"),
        ],
    )
    async def test_nonsense_is_422_naming_the_field(self, client, nurse, patient, changes, field):
        r = await client.post(
            f"{API}/patients/{patient.id}/screenings",
            json=screening_body(**changes),
            headers=nurse,
        )
        assert r.status_code == 422
        assert field in [e["field"] for e in r.json()["errors"]]

    async def test_measurement_in_the_future_is_422(self, client, nurse, patient):
        later = (NOW + timedelta(hours=2)).isoformat()
        r = await client.post(
            f"{API}/patients/{patient.id}/screenings",
            json=screening_body(weight_measured_at=later, weight_kg="71.0"),
            headers=nurse,
        )
        assert r.status_code == 422
        assert "weight_measured_at" in r.json()["detail"]


class TestNoApprovedProtocol:
    async def test_recording_is_409_saying_a_protocol_must_be_approved(
        self, client, nurse, patient
    ):
        r = await client.post(
            f"{API}/patients/{patient.id}/screenings", json=screening_body(), headers=nurse
        )
        assert r.status_code == 409
        assert "must approve" in r.json()["detail"]


@pytest.mark.usefixtures("protocol")
class TestSignScreening:
    async def test_nurse_cannot_sign(self, client, nurse, patient):
        screening = await record(client, nurse, patient.id)
        r = await sign(client, nurse, screening["id"])
        assert r.status_code == 403

    async def test_wrong_password_is_401(self, client, nurse, physician, patient):
        screening = await record(client, nurse, patient.id)
        r = await sign(client, physician, screening["id"], password="not my password")
        assert r.status_code == 401
        assert r.json()["error"] == "WrongPassword"

    async def test_clean_screening_signed_eligible_expires_after_validity(
        self, client, nurse, physician, patient
    ):
        screening = await record(client, nurse, patient.id)
        r = await sign(client, physician, screening["id"], note="fit for treatment")
        assert r.status_code == 200, r.text
        signature = r.json()["signature"]
        assert signature["decision"] == "eligible"
        assert signature["content_sha256"] == screening["content_sha256"]
        assert signature["expires_at"].startswith("2027-02-21T09:00:00")  # 90 days
        assert signature["note"] == "fit for treatment"

    async def test_relative_finding_without_justification_is_422_naming_it(
        self, client, nurse, physician, patient
    ):
        screening = await record(
            client, nurse, patient.id, resting_vitals=ELEVATED_BP, medications=[PHENELZINE]
        )
        r = await sign(
            client, physician, screening["id"], justifications={"maoi": "stable 2 years, agreed"}
        )
        assert r.status_code == 422
        assert "resting_bp_elevated" in r.json()["detail"]
        assert "maoi" not in r.json()["detail"].split("missing for")[1]

    async def test_every_relative_finding_justified_signs_eligible(
        self, client, nurse, physician, patient
    ):
        screening = await record(
            client, nurse, patient.id, resting_vitals=ELEVATED_BP, medications=[PHENELZINE]
        )
        justifications = {
            "maoi": "phenelzine stable for 2 years; psychiatrist consulted",
            "resting_bp_elevated": "white-coat pattern; home readings 130/80",
        }
        r = await sign(client, physician, screening["id"], justifications=justifications)
        assert r.status_code == 200, r.text
        assert r.json()["signature"]["justifications"] == justifications
        answer = await eligibility(client, nurse, patient.id)
        assert answer["eligible"] is True
        assert all(f["justified"] for f in answer["findings"])

    async def test_justification_for_a_rule_that_did_not_fire_is_422(
        self, client, nurse, physician, patient
    ):
        screening = await record(client, nurse, patient.id)
        r = await sign(client, physician, screening["id"], justifications={"lithium": "fine"})
        assert r.status_code == 422
        assert "lithium" in r.json()["detail"]

    async def test_absolute_finding_is_409_but_not_eligible_with_a_note_is_accepted(
        self, client, nurse, physician, patient
    ):
        screening = await record(client, nurse, patient.id, medications=[THEOPHYLLINE])
        assert screening["status"] == "INELIGIBLE"
        r = await sign(client, physician, screening["id"])
        assert r.status_code == 409
        assert "xanthine_derivative" in r.json()["detail"]
        assert "not_eligible" in r.json()["detail"]
        r = await sign(
            client, physician, screening["id"], "not_eligible", note="theophylline; review later"
        )
        assert r.status_code == 200, r.text
        assert r.json()["signature"]["decision"] == "not_eligible"
        assert r.json()["signature"]["expires_at"] is None
        answer = await eligibility(client, nurse, patient.id)
        assert answer["eligible"] is False
        assert "not eligible" in answer["reasons"][0]

    async def test_not_eligible_needs_a_note(self, client, nurse, physician, patient):
        screening = await record(client, nurse, patient.id)
        r = await sign(client, physician, screening["id"], "not_eligible")
        assert r.status_code == 422
        assert r.json()["detail"].startswith("note:")

    async def test_missing_data_blocks_eligible(self, client, nurse, physician, patient):
        screening = await record(client, nurse, patient.id, consent_off_label=None)
        r = await sign(
            client, physician, screening["id"], justifications={"missing_data": "asked verbally"}
        )
        assert r.status_code == 409
        assert "consent_off_label" in r.json()["detail"]

    async def test_data_gone_stale_since_recording_blocks_eligible(
        self, client, nurse, patient, clinic, db, clock: FakeClock, settings
    ):
        old = NOW - timedelta(days=29, hours=23)
        screening = await record(
            client,
            nurse,
            patient.id,
            resting_vitals={
                **ELEVATED_BP,
                "measured_at": old.isoformat(),
                "sbp_mmhg": 120,
                "dbp_mmhg": 80,
            },
        )
        assert screening["status"] == "ELIGIBLE"
        clock.advance(hours=2)
        doctor = bearer(await make_user(db, clinic, "physician"), settings, clock.now())
        r = await sign(client, doctor, screening["id"])
        assert r.status_code == 409
        assert "stale_data" in r.json()["detail"]

    async def test_signed_version_cannot_be_signed_again(self, client, nurse, physician, patient):
        screening = await record(client, nurse, patient.id)
        assert (await sign(client, physician, screening["id"])).status_code == 200
        r = await sign(client, physician, screening["id"], "not_eligible", note="changed my mind")
        assert r.status_code == 409


@pytest.mark.usefixtures("protocol")
class TestVersions:
    async def test_edit_after_sign_is_a_new_unsigned_version_not_eligible_until_signed(
        self, client, nurse, physician, patient
    ):
        v1 = await record(client, nurse, patient.id)
        assert (await sign(client, physician, v1["id"])).status_code == 200
        assert (await eligibility(client, nurse, patient.id))["eligible"] is True

        r = await client.put(
            f"{API}/screenings/{v1['id']}",
            json=screening_body(failed_antidepressant_trials=4),
            headers=nurse,
        )
        assert r.status_code == 201, r.text
        v2 = r.json()
        assert v2["version"] == 2
        assert v2["id"] != v1["id"]
        assert v2["signature"] is None

        old = (await client.get(f"{API}/screenings/{v1['id']}", headers=nurse)).json()
        assert old["superseded"] is True
        assert old["signature"]["decision"] == "eligible"
        assert old["content"]["failed_antidepressant_trials"] == 3
        listed = (await client.get(f"{API}/patients/{patient.id}/screenings", headers=nurse)).json()
        assert [s["version"] for s in listed["items"]] == [2, 1]

        answer = await eligibility(client, nurse, patient.id)
        assert answer["eligible"] is False
        assert answer["version"] == 2
        assert "not signed" in answer["reasons"][0]

        assert (await sign(client, physician, v1["id"])).status_code == 409  # superseded
        assert (await sign(client, physician, v2["id"])).status_code == 200
        assert (await eligibility(client, nurse, patient.id))["eligible"] is True

    async def test_editing_a_superseded_version_is_409(self, client, nurse, patient):
        v1 = await record(client, nurse, patient.id)
        url = f"{API}/screenings/{v1['id']}"
        assert (await client.put(url, json=screening_body(), headers=nurse)).status_code == 201
        r = await client.put(url, json=screening_body(), headers=nurse)
        assert r.status_code == 409
        assert "superseded" in r.json()["detail"]


@pytest.mark.usefixtures("protocol")
class TestEligibility:
    async def test_no_screening_is_not_eligible(self, client, nurse, patient):
        answer = await eligibility(client, nurse, patient.id)
        assert answer["eligible"] is False
        assert answer["screening_id"] is None
        assert "no screening recorded" in answer["reasons"][0]

    async def test_clean_signed_screening_is_eligible(self, client, nurse, physician, patient):
        screening = await record(client, nurse, patient.id)
        await sign(client, physician, screening["id"])
        answer = await eligibility(client, nurse, patient.id)
        assert answer == {
            "eligible": True,
            "reasons": [],
            "at": answer["at"],
            "screening_id": screening["id"],
            "version": 1,
            "decision": "eligible",
            "signed_at": answer["signed_at"],
            "expires_at": answer["expires_at"],
            "status": "ELIGIBLE",
            "findings": [],
        }
        assert answer["at"].startswith("2026-11-23T09:00:00")

    async def test_expired_signature_is_not_eligible_with_the_reason(
        self, client, nurse, physician, patient, clinic, db, settings, clock: FakeClock
    ):
        screening = await record(client, nurse, patient.id)
        await sign(client, physician, screening["id"])
        clock.advance(days=90, minutes=1)
        nurse_now = bearer(await make_user(db, clinic, "nurse"), settings, clock.now())
        answer = await eligibility(client, nurse_now, patient.id)
        assert answer["eligible"] is False
        assert (
            "screening signature expired on 2027-02-21; a physician must review and sign a new "
            "screening" in answer["reasons"]
        )

    async def test_stale_resting_vitals_at_the_time_asked_about(
        self, client, nurse, physician, patient
    ):
        screening = await record(client, nurse, patient.id)  # vitals at 08:00
        await sign(client, physician, screening["id"])
        assert (await eligibility(client, nurse, patient.id, NOW + timedelta(days=29)))["eligible"]
        answer = await eligibility(client, nurse, patient.id, NOW + timedelta(days=30))
        assert answer["eligible"] is False
        [reason] = answer["reasons"]
        assert "resting_vitals.measured_at" in reason
        assert "stale_data" in reason
        assert rule_ids(answer["findings"]) == ["stale_data"]
        assert answer["findings"][0]["justified"] is False

    async def test_time_without_offset_is_422(self, client, nurse, patient):
        r = await client.get(
            f"{API}/patients/{patient.id}/eligibility",
            params={"at": "2026-11-24T09:00:00"},
            headers=nurse,
        )
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "query.at"

    async def test_before_the_signature_is_not_eligible(self, client, nurse, physician, patient):
        screening = await record(client, nurse, patient.id)
        await sign(client, physician, screening["id"])
        answer = await eligibility(client, nurse, patient.id, NOW - timedelta(minutes=5))
        assert answer["eligible"] is False
        assert "after the time asked about" in answer["reasons"][0]

    async def test_newer_implausible_weight_adds_a_finding(
        self, client, nurse, physician, patient, clock: FakeClock
    ):
        screening = await record(client, nurse, patient.id)
        await sign(client, physician, screening["id"])
        clock.advance(minutes=5)
        r = await client.post(
            f"{API}/patients/{patient.id}/weights",
            json={"weight_kg": "7.0", "measured_at": clock.now().isoformat()},
            headers=nurse,
        )
        assert r.status_code == 201, r.text
        answer = await eligibility(client, nurse, patient.id)
        assert answer["eligible"] is False
        assert "weight 7.0 kg" in answer["reasons"][0]

    async def test_content_hash_verifies_from_the_stored_row(
        self, client, nurse, physician, patient, protocol, db
    ):
        screening = await record(client, nurse, patient.id, medications=[PHENELZINE])
        await sign(client, physician, screening["id"], justifications={"maoi": "agreed"})
        row = await db.scalar(
            select(ScreeningVersion).where(ScreeningVersion.id == uuid.UUID(screening["id"]))
        )
        doc = {
            "patient_id": str(row.patient_id),
            "version": row.version,
            "protocol_version_id": str(row.protocol_version_id),
            "protocol_sha256": protocol.sha256,
            "content": row.content,
            "evaluation": row.evaluation,
        }
        canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        expected = hashlib.sha256(canonical.encode()).hexdigest()
        assert row.content_sha256 == expected == screening["content_sha256"]
        assert row.signed_sha256 == expected
        assert row.evaluation["findings"][0]["rule_id"] == "maoi"

    async def test_content_changed_in_the_database_makes_eligibility_false(
        self, client, nurse, physician, patient, db
    ):
        screening = await record(client, nurse, patient.id)
        await sign(client, physician, screening["id"])
        row = await db.get(ScreeningVersion, uuid.UUID(screening["id"]))
        tampered = {**row.content, "stroke": True}
        await db.execute(
            update(ScreeningVersion).where(ScreeningVersion.id == row.id).values(content=tampered)
        )
        answer = await eligibility(client, nurse, patient.id)
        assert answer["eligible"] is False
        assert "no longer matches the hash it was signed with" in answer["reasons"][0]

    async def test_signature_changed_in_the_database_makes_eligibility_false(
        self, client, nurse, physician, patient, db
    ):
        screening = await record(client, nurse, patient.id, medications=[THEOPHYLLINE])
        await sign(client, physician, screening["id"], "not_eligible", note="xanthine")
        await db.execute(
            update(ScreeningVersion)
            .where(ScreeningVersion.id == uuid.UUID(screening["id"]))
            .values(decision="eligible", expires_at=NOW + timedelta(days=90))
        )
        answer = await eligibility(client, nurse, patient.id)
        assert answer["eligible"] is False
        assert "no longer matches" in answer["reasons"][0]


@pytest.mark.usefixtures("protocol")
class TestOtherClinic:
    async def test_other_clinics_physician_cannot_see_or_sign(
        self, client, nurse, patient, db, settings
    ):
        screening = await record(client, nurse, patient.id)
        clinic_b = await make_clinic(db)
        await make_approved_protocol(db, clinic_b)
        doctor_b = bearer(await make_user(db, clinic_b, "physician"), settings)
        sid, pid = screening["id"], patient.id
        assert (await client.get(f"{API}/screenings/{sid}", headers=doctor_b)).status_code == 404
        assert (await sign(client, doctor_b, sid)).status_code == 404
        r = await client.put(f"{API}/screenings/{sid}", json=screening_body(), headers=doctor_b)
        assert r.status_code == 404
        for path in ("screenings", "eligibility"):
            r = await client.get(f"{API}/patients/{pid}/{path}", headers=doctor_b)
            assert r.status_code == 404
        r = await client.post(
            f"{API}/patients/{pid}/screenings", json=screening_body(), headers=doctor_b
        )
        assert r.status_code == 404


@pytest.mark.usefixtures("protocol")
class TestAudit:
    async def test_create_edit_sign_and_refuse_are_audited_without_phi(
        self, client, nurse, physician, patient, db
    ):
        v1 = await record(client, nurse, patient.id)
        await sign(client, physician, v1["id"])
        r = await client.put(
            f"{API}/screenings/{v1['id']}",
            json=screening_body(medications=[THEOPHYLLINE]),
            headers=nurse,
        )
        v2 = r.json()
        await sign(client, physician, v2["id"], "not_eligible", note="theophylline")
        rows = (
            await db.scalars(
                select(AuditEntry)
                .where(AuditEntry.entity_type == "screening")
                .order_by(AuditEntry.seq)
            )
        ).all()
        assert [(e.action, e.entity_id) for e in rows] == [
            ("SCREENING_CREATED", v1["id"]),
            ("SCREENING_SIGNED", v1["id"]),
            ("SCREENING_EDITED", v2["id"]),
            ("SCREENING_REFUSED", v2["id"]),
        ]
        edited = rows[2]
        assert edited.before["screening_id"] == v1["id"]
        assert edited.after["changed_fields"] == ["medications"]
        assert edited.after["finding_rule_ids"] == ["xanthine_derivative"]
        assert rows[1].after["expires_at"].startswith("2027-02-21")
        text = json.dumps([[e.before, e.after] for e in rows])
        for phi in ("Kari", "Nordmann", "1980-05-17"):
            assert phi not in text
