"""Session services against the real database: the one-active-session guarantee, course
bookkeeping and the titration proposal, the alarm seam."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.exc import IntegrityError

from app.auth.domain import Principal
from app.core.errors import Conflict
from app.core.types import Role
from app.sessions import service as sessions_service
from app.sessions.models import InfusionSession, SessionScaleEntry, SessionStateChange
from app.sessions.schemas import SessionCreate
from tests.fixtures.factories import (
    NOW,
    make_approved_protocol,
    make_chair,
    make_clinic,
    make_eligible_patient,
    make_user,
)


@pytest.fixture
async def setting(db):
    clinic = await make_clinic(db)
    protocol = await make_approved_protocol(db, clinic)
    chair = await make_chair(db, clinic)
    user = await make_user(db, clinic, "nurse")
    nurse = Principal(
        role=Role.NURSE, clinic_id=clinic.id, name="nurse", via="bearer", user_id=user.id
    )
    return clinic, protocol, chair, nurse


def _session(patient, chair, protocol, state: str) -> InfusionSession:
    return InfusionSession(
        id=uuid.uuid4(),
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        chair_id=chair.id,
        protocol_version_id=protocol.id,
        protocol_sha256=protocol.sha256,
        state=state,
        scheduled_for=NOW,
        infusion_number=1,
        planned_infusions=6,
        proposed_mg_per_kg=Decimal("0.5"),
        proposal_reason="test",
        ordered_mg_per_kg=Decimal("0.5"),
        ordered_by="test",
        created_at=NOW,
        checklist_confirmed=[],
    )


async def _insert(db, row: InfusionSession) -> None:
    async with db.begin_nested():
        db.add(row)
        await db.flush()


class TestOneActiveSession:
    async def test_database_refuses_two_active_sessions_on_one_chair(self, db, setting):
        clinic, protocol, chair, _ = setting
        first = await make_eligible_patient(db, clinic)
        second = await make_eligible_patient(db, clinic)
        db.add(_session(first, chair, protocol, "infusing"))
        await db.flush()
        db.add(_session(second, chair, protocol, "scheduled"))
        await db.flush()  # scheduled does not occupy the chair
        with pytest.raises(IntegrityError):
            await _insert(db, _session(second, chair, protocol, "checked_in"))

    async def test_database_refuses_two_active_sessions_for_one_patient(self, db, setting):
        clinic, protocol, chair, _ = setting
        patient = await make_eligible_patient(db, clinic)
        db.add(_session(patient, chair, protocol, "recovery"))
        db.add(_session(patient, await make_chair(db, clinic), protocol, "discharged"))
        await db.flush()
        other_chair = await make_chair(db, clinic)
        with pytest.raises(IntegrityError):
            await _insert(db, _session(patient, other_chair, protocol, "paused"))


async def _given(db, patient, chair, protocol, started_at, *, madrs: int, cadss: int) -> None:
    row = _session(patient, chair, protocol, "discharged")
    db.add(row)
    await db.flush()
    db.add(
        SessionStateChange(
            session_id=row.id, seq=1, state="infusing", event="start", at=started_at, actor_type="t"
        )
    )
    for scale_id, total in (("madrs", madrs), ("cadss", cadss)):
        db.add(
            SessionScaleEntry(
                session_id=row.id,
                scale_id=scale_id,
                state="recovery",
                answers={},
                total=total,
                at=started_at + timedelta(hours=2),
            )
        )
    await db.flush()


class TestScheduling:
    async def _schedule(self, db, setting, patient, at):
        _, protocol, chair, nurse = setting
        data = SessionCreate(
            patient_id=patient.id, chair_id=chair.id, protocol_id=protocol.id, scheduled_for=at
        )
        session_id = await sessions_service.schedule_session(
            db, principal=nurse, data=data, now=NOW
        )
        return await sessions_service.get_session(
            db, clinic_id=nurse.clinic_id, session_id=session_id, now=NOW
        )

    async def test_step_up_is_proposed_after_three_infusions_without_response(self, db, setting):
        clinic, protocol, chair, _ = setting
        patient = await make_eligible_patient(db, clinic)
        for n, madrs in enumerate((30, 28, 26)):
            started = NOW - timedelta(days=10 - 3 * n)
            await _given(db, patient, chair, protocol, started, madrs=madrs, cadss=8)
        view = await self._schedule(db, setting, patient, NOW)
        assert view.infusion_number == 4
        assert view.proposed_mg_per_kg == Decimal("0.75")
        assert "step up" in view.proposal_reason
        # A nurse books the proposal; the order is the proposal until a physician changes it.
        assert view.ordered_mg_per_kg == Decimal("0.75")

    async def test_high_cadss_keeps_the_dose(self, db, setting):
        clinic, protocol, chair, _ = setting
        patient = await make_eligible_patient(db, clinic)
        for n in range(3):
            started = NOW - timedelta(days=10 - 3 * n)
            await _given(db, patient, chair, protocol, started, madrs=30, cadss=31)
        view = await self._schedule(db, setting, patient, NOW)
        assert view.proposed_mg_per_kg == Decimal("0.5")
        assert "CADSS 31" in view.proposal_reason

    async def test_course_complete_is_refused(self, db, setting):
        clinic, protocol, chair, _ = setting
        patient = await make_eligible_patient(db, clinic)
        for n in range(6):
            await _given(
                db, patient, chair, protocol, NOW - timedelta(days=20 - 3 * n), madrs=10, cadss=0
            )
        with pytest.raises(Conflict, match="course complete: 6 of 6"):
            await self._schedule(db, setting, patient, NOW)
