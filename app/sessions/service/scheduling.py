"""Booking a session (course position, interval, titration proposal), cancelling, listing."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.auth.domain import Principal
from app.clinics import service as clinics_service
from app.core.errors import Conflict, Forbidden, NotFound
from app.core.types import Role
from app.patients import service as patients_service
from app.protocols import service as protocols_service
from app.protocols.domain import ProtocolDefinition, propose_dose_step
from app.sessions.domain import SessionEvent, SessionState, course_position
from app.sessions.models import InfusionSession, SessionStateChange
from app.sessions.repository import SessionRepository
from app.sessions.schemas import SessionCreate
from app.sessions.service.board import state_events
from app.sessions.service.common import Loaded, apply_event, load


async def _proposal(
    repo: SessionRepository,
    protocol: ProtocolDefinition,
    patient_id: uuid.UUID,
    infusions_given: int,
) -> tuple[Decimal, str]:
    previous = await repo.latest_order_mg_per_kg(patient_id)
    current = protocol.dosing.mg_per_kg if previous is None else Decimal(previous.mg_per_kg)
    madrs = await repo.patient_scale_entries(patient_id, "madrs")
    cadss = await repo.patient_scale_entries(patient_id, "cadss")
    proposal = propose_dose_step(
        protocol.titration,
        current_mg_per_kg=current,
        infusions_given=infusions_given,
        madrs_baseline=madrs[0].total if madrs else None,
        madrs_latest=madrs[-1].total if madrs else None,
        last_cadss_total=cadss[-1].total if cadss else None,
    )
    return proposal.mg_per_kg, proposal.reason


async def schedule_session(
    db: AsyncSession, *, principal: Principal, data: SessionCreate, now: datetime
) -> uuid.UUID:
    """Book a session on an approved protocol version (pinned with its SHA-256).

    Course: infusion n of N from the patient's started sessions; refused (409) when the course
    is complete or `scheduled_for` is before the minimum interval (with the time it becomes
    allowed). The titration step is proposed; a physician orders another mg/kg, a nurse may
    only order the proposal or less (403). Audited as SESSION_SCHEDULED.
    """
    clinic_id = principal.clinic_id
    if (
        await patients_service.birth_date_of(db, clinic_id=clinic_id, patient_id=data.patient_id)
        is None
    ):
        raise NotFound("patient not found")
    await clinics_service.get_chair(db, clinic_id, data.chair_id)
    version = await protocols_service.usable_version(db, clinic_id, data.protocol_id)
    protocol = protocols_service.definition_of(version)
    repo = SessionRepository(db)
    starts = [at for _, at in await repo.infusion_starts(data.patient_id)]
    course = course_position(protocol.course, starts)
    if course.course_complete:
        raise Conflict(
            f"course complete: {course.planned_infusions} of {course.planned_infusions} "
            "infusions given; a physician starts a new course"
        )
    if course.earliest_start_at is not None and data.scheduled_for < course.earliest_start_at:
        raise Conflict(
            f"less than {protocol.course.min_hours_between_infusions} h since the previous "
            f"infusion started at {course.previous_infusion_at.isoformat() if course.previous_infusion_at else ''}; "
            f"allowed from {course.earliest_start_at.isoformat()}"
        )
    proposed, reason = await _proposal(repo, protocol, data.patient_id, len(starts))
    ordered = proposed if data.mg_per_kg is None else data.mg_per_kg
    if principal.role is not Role.PHYSICIAN and ordered > proposed:
        raise Forbidden(
            f"{ordered} mg/kg is above the proposed {proposed} mg/kg: only a physician orders "
            "a higher dose"
        )
    actor = principal.actor
    row = InfusionSession(
        id=uuid.uuid4(),
        clinic_id=clinic_id,
        patient_id=data.patient_id,
        chair_id=data.chair_id,
        protocol_version_id=version.id,
        protocol_sha256=version.sha256,
        state=str(SessionState.SCHEDULED),
        scheduled_for=data.scheduled_for,
        infusion_number=course.infusion_number,
        planned_infusions=course.planned_infusions,
        proposed_mg_per_kg=proposed,
        proposal_reason=reason,
        ordered_mg_per_kg=ordered,
        ordered_by=actor.actor_name or actor.actor_type,
        created_at=now,
        created_by=principal.user_id,
        checklist_confirmed=[],
    )
    repo.add(row)
    repo.add(
        SessionStateChange(
            id=uuid.uuid4(),
            session_id=row.id,
            seq=1,
            state=str(SessionState.SCHEDULED),
            event=None,
            at=now,
            actor_type=actor.actor_type,
            actor_id=actor.actor_id,
            actor_name=actor.actor_name,
            reason=None,
        )
    )
    await repo.flush()
    await audit_service.record(
        db,
        actor=actor,
        action="SESSION_SCHEDULED",
        entity_type="infusion_session",
        entity_id=row.id,
        clinic_id=clinic_id,
        now=now,
        after={
            "state": "scheduled",
            "patient_id": str(row.patient_id),
            "chair_id": str(row.chair_id),
            "protocol_version_id": str(version.id),
            "protocol_sha256": version.sha256,
            "scheduled_for": row.scheduled_for.isoformat(),
            "infusion_number": row.infusion_number,
            "planned_infusions": row.planned_infusions,
            "proposed_mg_per_kg": str(proposed),
            "ordered_mg_per_kg": str(ordered),
        },
    )
    await state_events(db, row, before=None, event=None, reason=None, now=now)
    return row.id


async def cancel_session(
    db: AsyncSession, *, principal: Principal, session_id: uuid.UUID, reason: str, now: datetime
) -> Loaded:
    """Cancel before the infusion (scheduled or checked in) with a reason. Audited."""
    loaded = await load(db, clinic_id=principal.clinic_id, session_id=session_id, for_update=True)
    await apply_event(db, loaded, SessionEvent.CANCEL, principal=principal, now=now, reason=reason)
    return loaded


async def list_sessions(
    db: AsyncSession,
    *,
    clinic_id: uuid.UUID,
    day: date | None,
    state: SessionState | None,
    timezone: ZoneInfo,
    patient_id: uuid.UUID | None = None,
) -> Sequence[InfusionSession]:
    """Sessions of the clinic scheduled on `day` (the clinic's local calendar day), in
    `state` and/or of one patient, by scheduled time."""
    start = end = None
    if day is not None:
        start = datetime.combine(day, time(0), tzinfo=timezone)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=timezone)
    return await SessionRepository(db).in_clinic(
        clinic_id,
        start=start,
        end=end,
        state=None if state is None else str(state),
        patient_id=patient_id,
    )
