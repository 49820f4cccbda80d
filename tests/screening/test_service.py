"""Screening use cases against a real database session (rolled back), with a fake clock."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict, NotFound, Unprocessable
from app.protocols import service as protocols_service
from app.screening import service as screening_service
from app.screening.models import ScreeningVersion
from app.screening.schemas import ScreeningUpdate
from tests.fixtures.factories import (
    DEFAULT_PROTOCOL,
    NOW,
    TEST_ACTOR,
    make_approved_protocol,
    make_clinic,
    make_patient,
    make_screening,
    make_user,
    screening_body,
)

DEFAULT_TEXT = DEFAULT_PROTOCOL.read_text()
BP_138 = {
    "measured_at": (NOW - timedelta(hours=1)).isoformat(),
    "sbp_mmhg": 138,
    "dbp_mmhg": 85,
    "hr_bpm": 70,
    "spo2_pct": 97,
}


@pytest.fixture
async def clinic(db: AsyncSession):
    clinic = await make_clinic(db)
    await make_approved_protocol(db, clinic)
    return clinic


@pytest.fixture
async def patient(db: AsyncSession, clinic):
    return await make_patient(db, clinic)


@pytest.fixture
async def physician(db: AsyncSession, clinic):
    return await make_user(db, clinic, "physician")


async def sign(db, clinic, row, physician, *, decision="eligible", now=NOW, **kwargs):
    return await screening_service.sign_screening(
        db,
        clinic_id=clinic.id,
        screening_id=row.id,
        signer_id=physician.id,
        decision=decision,
        note=kwargs.get("note"),
        justifications=kwargs.get("justifications", {}),
        actor=TEST_ACTOR,
        now=now,
    )


async def answer_at(db, clinic, patient, at=NOW):
    return await screening_service.eligibility(
        db, clinic_id=clinic.id, patient_id=patient.id, at=at
    )


class TestRecord:
    async def test_hash_covers_content_results_patient_and_protocol(self, db, clinic, patient):
        row = await make_screening(db, clinic, patient)
        protocol = await protocols_service.active_version(db, clinic.id)
        assert protocol is not None
        expected = screening_service.content_hash(
            patient_id=patient.id,
            version=1,
            protocol_version_id=protocol.id,
            protocol_sha256=protocol.sha256,
            content=row.content,
            evaluation=row.evaluation,
        )
        assert row.content_sha256 == expected
        other_patient = screening_service.content_hash(
            patient_id=uuid.uuid4(),
            version=1,
            protocol_version_id=protocol.id,
            protocol_sha256=protocol.sha256,
            content=row.content,
            evaluation=row.evaluation,
        )
        assert other_patient != expected

    async def test_patients_newer_weight_replaces_the_screenings(self, db, clinic, patient):
        row = await make_screening(db, clinic, patient, weight_kg="68.0")
        assert row.content["weight_kg"] == "70.0"  # make_patient weighed 70.0 kg at NOW
        assert row.content["weight_measured_at"].startswith("2026-11-23T09:00:00")

    async def test_offsets_are_stored_in_utc(self, db, clinic, patient):
        row = await make_screening(
            db,
            clinic,
            patient,
            resting_vitals={**BP_138, "measured_at": "2026-11-23T09:30:00+01:00"},
        )
        assert row.content["resting_vitals"]["measured_at"] == "2026-11-23T08:30:00Z"

    async def test_future_liver_tests_are_refused(self, db, clinic, patient):
        later = (NOW + timedelta(days=1)).isoformat()
        with pytest.raises(Unprocessable, match=r"liver_tests\.measured_at"):
            await make_screening(
                db, clinic, patient, liver_tests={"measured_at": later, "alt_u_per_l": "20"}
            )

    async def test_unknown_patient_is_not_found(self, db, clinic):
        other = await make_patient(db, await make_clinic(db))
        with pytest.raises(NotFound):
            await make_screening(db, clinic, other)

    async def test_edit_leaves_the_old_version_untouched(self, db, clinic, patient):
        v1 = await make_screening(db, clinic, patient)
        content, sha = dict(v1.content), v1.content_sha256
        view = await screening_service.edit_screening(
            db,
            clinic_id=clinic.id,
            screening_id=v1.id,
            data=ScreeningUpdate.model_validate(screening_body(stroke=True)),
            actor=TEST_ACTOR,
            now=NOW + timedelta(minutes=10),
        )
        assert view.screening.version == 2
        assert view.screening.evaluation["status"] == "INELIGIBLE"
        await db.refresh(v1)
        assert (v1.content, v1.content_sha256) == (content, sha)
        old = await screening_service.get_screening(db, clinic_id=clinic.id, screening_id=v1.id)
        assert old.superseded is True


class TestSign:
    async def test_tampered_content_cannot_be_signed(self, db, clinic, patient, physician):
        row = await make_screening(db, clinic, patient)
        await db.execute(
            update(ScreeningVersion)
            .where(ScreeningVersion.id == row.id)
            .values(content={**row.content, "pregnant": None})
        )
        await db.refresh(row)
        with pytest.raises(Conflict, match="content hash"):
            await sign(db, clinic, row, physician)

    async def test_signature_hash_covers_decision_and_expiry(self, db, clinic, patient, physician):
        row = await make_screening(db, clinic, patient)
        signed = (await sign(db, clinic, row, physician)).screening
        assert signed.signature_sha256 is not None
        assert signed.expires_at == NOW + timedelta(days=90)
        assert (await answer_at(db, clinic, patient)).eligible
        signed.expires_at = NOW + timedelta(days=900)
        await db.flush()
        answer = await answer_at(db, clinic, patient, NOW + timedelta(days=1))
        assert not answer.eligible
        assert "no longer matches" in answer.reasons[0]

    async def test_hepatic_data_missing_is_refused_even_with_a_justification(
        self, db, clinic, patient, physician
    ):
        row = await make_screening(db, clinic, patient, liver_tests=None)
        with pytest.raises(Conflict, match="liver_tests"):
            await sign(db, clinic, row, physician, justifications={"missing_data": "not done"})

    async def test_justifications_with_not_eligible_are_refused(
        self, db, clinic, patient, physician
    ):
        row = await make_screening(db, clinic, patient)
        with pytest.raises(Unprocessable, match="justifications"):
            await sign(
                db,
                clinic,
                row,
                physician,
                decision="not_eligible",
                note="no",
                justifications={"maoi": "x"},
            )


class TestEligibility:
    async def test_other_clinic_is_not_found(self, db, clinic, patient):
        with pytest.raises(NotFound):
            await screening_service.eligibility(
                db, clinic_id=(await make_clinic(db)).id, patient_id=patient.id, at=NOW
            )

    async def test_unsigned_screening_names_the_version(self, db, clinic, patient):
        await make_screening(db, clinic, patient)
        answer = await answer_at(db, clinic, patient)
        assert not answer.eligible
        assert answer.reasons == (
            "screening version 1 is not signed; a physician must review and sign it",
        )
        assert answer.status is not None
        assert answer.status.value == "ELIGIBLE"

    async def test_justified_relative_finding_stays_justified(self, db, clinic, patient, physician):
        row = await make_screening(db, clinic, patient, resting_vitals=BP_138 | {"sbp_mmhg": 145})
        await sign(
            db, clinic, row, physician, justifications={"resting_bp_elevated": "home BP normal"}
        )
        answer = await answer_at(db, clinic, patient, NOW + timedelta(days=2))
        assert answer.eligible
        [finding] = answer.findings
        assert answer.is_justified(finding)

    async def test_stricter_protocol_approved_after_signing_adds_a_finding(
        self, db, clinic, patient, physician
    ):
        row = await make_screening(db, clinic, patient, resting_vitals=BP_138)
        assert row.evaluation["findings"] == []
        await sign(db, clinic, row, physician)
        assert (await answer_at(db, clinic, patient)).eligible
        stricter = DEFAULT_TEXT.replace('version = "1.0.0"', 'version = "1.0.1"', 1).replace(
            "sbp_above_mmhg = 140 ", "sbp_above_mmhg = 135 ", 1
        )
        assert "sbp_above_mmhg = 135" in stricter
        loaded = await protocols_service.load_version(
            db,
            clinic_id=clinic.id,
            content=stricter.encode(),
            source_name="stricter.toml",
            actor=TEST_ACTOR,
            now=NOW,
        )
        await protocols_service.activate(
            db, loaded.version, approver=TEST_ACTOR, approver_id=None, now=NOW
        )
        answer = await answer_at(db, clinic, patient, NOW + timedelta(hours=1))
        assert not answer.eligible
        assert "resting_bp_elevated" in answer.reasons[0]
        assert "138/85 mmHg above 135/90" in answer.reasons[0]

    async def test_birth_date_corrected_to_a_minor_adds_a_finding(
        self, db, clinic, patient, physician
    ):
        row = await make_screening(db, clinic, patient)
        await sign(db, clinic, row, physician)
        patient.birth_date = NOW.date().replace(year=NOW.year - 17)
        await db.flush()
        answer = await answer_at(db, clinic, patient)
        assert not answer.eligible
        assert "under_minimum_age" in answer.reasons[0]
        assert "absolute contraindication" in answer.reasons[0]
